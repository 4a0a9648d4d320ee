-- rename on one server: KEYS[1] old, KEYS[2] new; ARGV[1] now. Returns 1 when moved, 0 when
-- there is no live record at old, 2 when a live record holds new (nothing written either way).
--
-- One script, so Redis runs it whole or not at all: the record is under exactly one key.
local now = tonumber(ARGV[1])
if not live(KEYS[1], now) then return 0 end
if live(KEYS[2], now) then return 2 end
-- RENAME replaces whatever is at new (an expired record) and keeps nothing at old.
redis.call('RENAME', KEYS[1], KEYS[2])
expire(KEYS[2], now)
return 1
