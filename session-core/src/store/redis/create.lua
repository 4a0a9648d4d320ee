-- create: KEYS[1] session; ARGV[1] now; ARGV[2] id of this call; ARGV[3..] field/value
-- pairs of the whole hash. Returns 1 when stored, 0 when another live record holds the key
-- (nothing written).
--
-- The cluster client sends a command again when its reply was lost, so a call may find the
-- hash it wrote itself: the call id in `w` tells it apart from someone else's record.
local now = tonumber(ARGV[1])
if live(KEYS[1], now) then
  if redis.call('HGET', KEYS[1], 'w') == ARGV[2] then return 1 end
  return 0
end
redis.call('DEL', KEYS[1])
each_slice('HSET', KEYS[1], 3, #ARGV)
redis.call('HSET', KEYS[1], 'w', ARGV[2])
expire(KEYS[1], now)
return 1
