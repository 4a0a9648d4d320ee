-- snapshot (cluster rename, step 1): KEYS[1] session; ARGV[1] now. Returns the live hash as
-- {digest, {field, value, ...}}; nil when there is no live record.
if not live(KEYS[1], tonumber(ARGV[1])) then return false end
local all = redis.call('HGETALL', KEYS[1])
return {digest(all), all}
