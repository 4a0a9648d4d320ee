local now = tonumber(ARGV[1])
if live(now) then return 0 end
redis.call('DEL', KEYS[1])
each_slice('HSET', 2, #ARGV)
expire(now)
return 1
