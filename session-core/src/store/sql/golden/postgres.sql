-- The SQL the postgres store sends for each operation, with the values bound to it.
-- Pinned by session-core/src/store/sql/golden.rs; regenerate with SQL_GOLDEN=overwrite (see there).
-- Line breaks and indentation are for reading: a break stands for one space, or for nothing after
-- `(` and before `)`; after a `;` that ends a line it is a real line break.

-- ===== migrate: the table, then its indexes (schema) =====
CREATE TABLE IF NOT EXISTS session_kit_sessions (
  store_key TEXT NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  idle_deadline BIGINT,
  absolute_deadline BIGINT,
  expires_at BIGINT,
  remember_me BIGINT NOT NULL,
  last_active BIGINT,
  lifetime BIGINT,
  entries JSONB NOT NULL DEFAULT '{}',
  entries_expire_at BIGINT
)

CREATE INDEX IF NOT EXISTS session_kit_sessions_expires_at ON session_kit_sessions (expires_at)
WHERE expires_at IS NOT NULL

CREATE INDEX IF NOT EXISTS session_kit_sessions_entries_expire_at ON session_kit_sessions (entries_expire_at)
WHERE entries_expire_at IS NOT NULL

-- ===== migrate: a column tables of an earlier release lack, each (schema) =====
DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'last_active' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS last_active BIGINT; END IF; END $$

DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'lifetime' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS lifetime BIGINT; END IF; END $$

DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'entries' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS entries JSONB NOT NULL DEFAULT '{}'; END IF; END $$

DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'entries_expire_at' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS entries_expire_at BIGINT; END IF; END $$

-- ===== load (read, one row) =====
SELECT created_at, idle_deadline, absolute_deadline, remember_me, last_active, lifetime, entries::text
FROM session_kit_sessions
WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== create; a record under the key fails it (write) =====
INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime, entries, entries_expire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CAST(CAST($9 AS text) AS jsonb), $10)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000
-- 9: text '{"user_id":"āĂă","otp":["Ą",1700000600000]}'
-- 10: integer 1700000600000

-- ===== create: no fields (write) =====
INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime, entries, entries_expire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CAST(CAST($9 AS text) AS jsonb), $10)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000
-- 9: text '{}'
-- 10: integer NULL

-- ===== create or rename onto a key: clear an expired record (write) =====
DELETE FROM session_kit_sessions
WHERE store_key = $1 AND expires_at <= $2
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== apply: sets, removes (one also set) and new metadata (write) =====
UPDATE session_kit_sessions SET entries = (entries - ARRAY[$1::text]) || CAST(CAST($2 AS text) AS jsonb), entries_expire_at = CASE WHEN entries_expire_at <= $3 THEN entries_expire_at ELSE $4 END, created_at = $5, idle_deadline = $6, absolute_deadline = $7, expires_at = $8, remember_me = $9, last_active = $10, lifetime = $11
WHERE store_key = $12 AND (expires_at IS NULL OR expires_at > $13)
-- 1: text 'alerts'
-- 2: text '{"notice":"ą","otp":["Ć",1700000660000]}'
-- 3: integer 1700000660000
-- 4: integer 1700000660000
-- 5: integer 1700000000000
-- 6: integer 1700001860000
-- 7: integer NULL
-- 8: integer 1700001860000
-- 9: integer 0
-- 10: integer 1700000060000
-- 11: integer NULL
-- 12: text '01000000000000000000000000000000'
-- 13: integer 1700000000000

-- ===== apply: sets only (write) =====
UPDATE session_kit_sessions SET entries = entries || CAST(CAST($1 AS text) AS jsonb)
WHERE store_key = $2 AND (expires_at IS NULL OR expires_at > $3)
-- 1: text '{"notice":"ć"}'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== apply: removes only (write) =====
UPDATE session_kit_sessions SET entries = (entries - ARRAY[$1::text])
WHERE store_key = $2 AND (expires_at IS NULL OR expires_at > $3)
-- 1: text 'notice'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== apply: new metadata only (write) =====
UPDATE session_kit_sessions SET created_at = $1, idle_deadline = $2, absolute_deadline = $3, expires_at = $4, remember_me = $5, last_active = $6, lifetime = $7
WHERE store_key = $8 AND (expires_at IS NULL OR expires_at > $9)
-- 1: integer 1700000000000
-- 2: integer 1700001860000
-- 3: integer 1700043200000
-- 4: integer 1700001860000
-- 5: integer 1
-- 6: integer 1700000060000
-- 7: integer 2592000000
-- 8: text '01000000000000000000000000000000'
-- 9: integer 1700000000000

-- ===== apply: nothing to write (read, one row) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== delete (write) =====
DELETE FROM session_kit_sessions
WHERE store_key = $1
-- 1: text '01000000000000000000000000000000'

-- ===== rename; a record under the new key fails it (write) =====
UPDATE session_kit_sessions SET store_key = $1
WHERE store_key = $2 AND (expires_at IS NULL OR expires_at > $3)
-- 1: text '02000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== count_live (read) =====
SELECT COUNT(*) FROM session_kit_sessions
WHERE expires_at IS NULL OR expires_at > $1
-- 1: integer 1700000000000

-- ===== collect_expired: a chunk of expired sessions (write) =====
DELETE FROM session_kit_sessions
WHERE store_key IN (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= $1
  ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
-- 1: integer 1700000000000
-- 2: integer 1000

-- ===== collect_expired: sessions holding expired fields (read) =====
SELECT store_key, entries::text
FROM session_kit_sessions
WHERE entries_expire_at <= $1 AND (expires_at IS NULL OR expires_at > $2)
ORDER BY entries_expire_at LIMIT $3
-- 1: integer 1700000000000
-- 2: integer 1700000000000
-- 3: integer 1000

-- ===== collect_expired: prune a session's expired fields, unless it changed (write) =====
UPDATE session_kit_sessions SET entries = CAST(CAST($1 AS text) AS jsonb), entries_expire_at = $2
WHERE store_key = $3 AND entries::text = $4
-- 1: text '{"user_id":"āĂă"}'
-- 2: integer NULL
-- 3: text '01000000000000000000000000000000'
-- 4: text '{"user_id":"āĂă","otp":["Ą",1700000600000]}'

-- ===== upgrade from 0.2: rename the entries table (schema) =====
ALTER TABLE session_kit_entries RENAME TO session_kit_entries_moving

-- ===== upgrade from 0.2: the rows of a chunk of sessions (read) =====
SELECT e.store_key, e.field, e.value, e.expires_at
FROM session_kit_entries_moving e JOIN (
  SELECT DISTINCT store_key
  FROM session_kit_entries_moving
  ORDER BY store_key LIMIT $1
) c ON c.store_key = e.store_key
ORDER BY e.store_key
-- 1: integer 500

-- ===== upgrade from 0.2: a session's fields (write) =====
UPDATE session_kit_sessions SET entries = CAST(CAST($1 AS text) AS jsonb), entries_expire_at = $2
WHERE store_key = $3
-- 1: text '{"user_id":"āĂă"}'
-- 2: integer NULL
-- 3: text '01000000000000000000000000000000'

-- ===== upgrade from 0.2: forget the chunk (write) =====
DELETE FROM session_kit_entries_moving
WHERE store_key <= $1
-- 1: text '01000000000000000000000000000000'

-- ===== upgrade from 0.2: drop the emptied table (schema) =====
DROP TABLE session_kit_entries_moving

-- ===== upgrade: take turns; whether a table exists; give the turn back (schema) =====
SELECT pg_advisory_lock(2697851279577772601)

SELECT CAST(CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END AS bigint)
-- 1: text 'session_kit_entries'

SELECT pg_advisory_unlock(2697851279577772601)
