local now = tonumber(ARGV[1])
if not live(now) then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then each_slice('HDEL', 3, 2 + n) end
each_slice('HSET', 3 + n, #ARGV)
expire(now)
return 1
