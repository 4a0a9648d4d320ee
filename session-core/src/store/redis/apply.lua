-- apply: KEYS[1] session; ARGV[1] now; ARGV[2] n; ARGV[3] native TTL: '' to keep it (the
-- deadline did not change), 'p' for none, else milliseconds; ARGV[4..3+n] fields to remove;
-- then field/value pairs to set. Removals go first, so a field both removed and set ends set.
-- Returns 1 when applied, 0 when there is no live record (nothing written).
--
-- A packed record keeps the entries it was created with in `d`, which is never rewritten: an
-- entry removed from it is marked by an empty `e:` field instead of deleted. Whether `d` holds
-- the key is told by finding the key's bytes in it (postcard writes keys verbatim): a false
-- match (the bytes inside a value) only leaves a marker for a key that has no entry, which
-- readers skip; a missed one cannot happen.
--
-- Kept lean, as it runs on every changed request: one read of the liveness fields, the
-- writes, and the TTL only when the deadline moved (the client computes it from the new
-- deadline and its own clock, as `create` does).
--
-- Sent twice (a lost reply in a cluster), it writes the same values again: harmless.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'm', 'x')
if not f[1] or (f[2] and tonumber(f[2]) <= tonumber(ARGV[1])) then return 0 end
local n = tonumber(ARGV[2])
local last = #ARGV
-- Lua's unpack has a stack limit: large changes go in slices.
local function each_slice(cmd, from, to)
  while from <= to do
    local j = math.min(from + 199, to)
    redis.call(cmd, key, unpack(ARGV, from, j))
    from = j + 1
  end
end
if n > 0 then
  local packed = redis.call('HGET', key, 'd')
  if packed then
    for i = 4, 3 + n do
      local field = ARGV[i]
      if string.sub(field, 1, 2) == 'e:' and string.find(packed, string.sub(field, 3), 1, true) then
        redis.call('HSET', key, field, '')
      else
        redis.call('HDEL', key, field)
      end
    end
  else
    each_slice('HDEL', 4, 3 + n)
  end
end
if last > 3 + n then each_slice('HSET', 4 + n, last) end
local ttl = ARGV[3]
if ttl == 'p' then
  redis.call('PERSIST', key)
elseif ttl ~= '' then
  redis.call('PEXPIRE', key, ttl)
end
return 1
