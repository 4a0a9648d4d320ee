-- apply: KEYS[1] session; ARGV[1] now; ARGV[2] n; ARGV[3..2+n] fields to remove; then
-- field/value pairs to set. Removals go first, so a field both removed and set ends set.
-- Returns 1 when applied, 0 when there is no live record (nothing written).
--
-- Sent twice (a lost reply in a cluster), it writes the same values again: harmless.
local now = tonumber(ARGV[1])
if not live(KEYS[1], now) then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then each_slice('HDEL', KEYS[1], 3, 2 + n) end
each_slice('HSET', KEYS[1], 3 + n, #ARGV)
expire(KEYS[1], now)
return 1
