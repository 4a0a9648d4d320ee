local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
