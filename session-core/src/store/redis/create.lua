-- create: KEYS[1] session; ARGV[1] now; ARGV[2] id of this call; ARGV[3] native TTL ('p'
-- for none, else milliseconds); ARGV[4..] field/value pairs of the whole hash. Returns 1
-- when stored, 0 when another live record holds the key (nothing written).
--
-- The cluster client sends a command again when its reply was lost, so a call may find the
-- hash it wrote itself: the call id in `w` tells it apart from someone else's record.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'm', 'x', 'w')
if f[1] and not (f[2] and tonumber(f[2]) <= tonumber(ARGV[1])) then
  if f[3] == ARGV[2] then return 1 end
  return 0
end
redis.call('DEL', key)
local i, last = 4, #ARGV
-- Lua's unpack has a stack limit: large records go in slices.
while i <= last do
  local j = math.min(i + 199, last)
  redis.call('HSET', key, unpack(ARGV, i, j))
  i = j + 1
end
redis.call('HSET', key, 'w', ARGV[2])
if ARGV[3] ~= 'p' then redis.call('PEXPIRE', key, ARGV[3]) end
return 1
