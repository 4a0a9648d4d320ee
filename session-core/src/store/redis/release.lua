-- release (cluster rename, step 3, after the copy is stored under the new key): KEYS[1] old
-- session; ARGV[1] now; ARGV[2] digest from the snapshot; ARGV[3] id of the rename call;
-- ARGV[4] how long the tombstone lives (ms).
--
-- Replaces the record by a tombstone `t` = call id, only if it is unchanged since the
-- snapshot. Returns 1 when released, 2 when it changed since (nothing written), 0 when there
-- is no live record (destroyed or expired meanwhile).
--
-- The tombstone lets a release the cluster client sent again (its reply was lost) answer 1
-- instead of 0, which would make the caller drop the only copy left.
if redis.call('HGET', KEYS[1], 't') == ARGV[3] then return 1 end
if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
if digest(redis.call('HGETALL', KEYS[1])) ~= ARGV[2] then return 2 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
