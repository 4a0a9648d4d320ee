local function live(now)
  local f = redis.call('HMGET', KEYS[1], 'm', 'x')
  if not f[1] then return false end
  if f[2] and tonumber(f[2]) <= now then return false end
  return true
end
local function expire(now)
  local x = redis.call('HGET', KEYS[1], 'x')
  if not x then
    redis.call('PERSIST', KEYS[1])
    return
  end
  local left = tonumber(x) - now
  if left > 315360000000 then
    redis.call('PERSIST', KEYS[1])
  else
    if left < 1 then left = 1 end
    redis.call('PEXPIRE', KEYS[1], string.format('%d', left))
  end
end
-- HSET/HDEL in slices: Lua's unpack has a stack limit.
local function each_slice(cmd, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 199, to)
    redis.call(cmd, KEYS[1], unpack(ARGV, i, j))
    i = j + 1
  end
end
