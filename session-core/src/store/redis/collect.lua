-- collect: KEYS[1] session; ARGV[1] now. Deletes the record if it has expired; returns 1 if
-- so. (Tombstones have no deadline: their native TTL removes them.)
local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
