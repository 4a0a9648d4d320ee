-- Shared by the rename scripts (prepended to each one); `apply` and `create` are on every
-- request's path and carry only what they need.
--
-- Hash fields: `m` metadata, `x` deadline (Unix ms, absent without one), `w` id of the call
-- that created the hash, `d` the entries of a packed record as created, `e:<key>` entries
-- (overriding `d`'s; empty: removed); a tombstone (a hash moved away by a cluster
-- rename) has only `t`.

-- Whether `key` holds a live session at the caller's clock `now` (a tombstone is not one).
local function live(key, now)
  local f = redis.call('HMGET', key, 'm', 'x')
  if not f[1] then return false end
  if f[2] and tonumber(f[2]) <= now then return false end
  return true
end

-- Sets the native TTL from the deadline `x`, so Redis never expires a record before it.
-- Deadlines more than ten years out are kept without a native TTL (the record still expires
-- at its deadline for `load`; Redis refuses absurdly large expiry times).
local function expire(key, now)
  local x = redis.call('HGET', key, 'x')
  if not x then
    redis.call('PERSIST', key)
    return
  end
  local left = tonumber(x) - now
  if left > 315360000000 then
    redis.call('PERSIST', key)
  else
    if left < 1 then left = 1 end
    redis.call('PEXPIRE', key, string.format('%d', left))
  end
end

-- A digest of a whole hash as HGETALL lists it, whatever the listing order (a large hash may
-- list its fields in another order without changing): each field/value pair is hashed on its
-- own (the field length-prefixed, so no two pairs encode alike), and the pair digests, plain
-- hex, are sorted and hashed together.
local function digest(all)
  local parts = {}
  for i = 1, #all, 2 do
    parts[#parts + 1] = redis.sha1hex(#all[i] .. ':' .. all[i] .. all[i + 1])
  end
  table.sort(parts)
  return redis.sha1hex(table.concat(parts))
end
