-- The SQL the mysql store sends for each operation, with the values bound to it.
-- Pinned by session-core/src/store/sql/golden.rs; regenerate with SQL_GOLDEN=overwrite (see there).
-- Line breaks and indentation are for reading: a break stands for one space, or for nothing after
-- `(` and before `)`; after a `;` that ends a line it is a real line break.

-- ===== migrate: the table, then its indexes (schema) =====
CREATE TABLE IF NOT EXISTS session_kit_sessions (
  store_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  idle_deadline BIGINT NULL,
  absolute_deadline BIGINT NULL,
  expires_at BIGINT NULL,
  remember_me BIGINT NOT NULL,
  last_active BIGINT NULL,
  lifetime BIGINT NULL,
  entries LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  entries_expire_at BIGINT NULL,
  INDEX session_kit_sessions_expires_at (expires_at),
  INDEX session_kit_sessions_entries_expire_at (entries_expire_at)
) ENGINE = InnoDB

-- ===== migrate: a column tables of an earlier release lack, each (schema) =====
ALTER TABLE session_kit_sessions ADD COLUMN last_active BIGINT NULL

ALTER TABLE session_kit_sessions ADD COLUMN lifetime BIGINT NULL

ALTER TABLE session_kit_sessions ADD COLUMN entries LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT ('{}')

ALTER TABLE session_kit_sessions ADD COLUMN entries_expire_at BIGINT NULL, ADD INDEX session_kit_sessions_entries_expire_at (entries_expire_at)

-- ===== load (read, one row) =====
SELECT created_at, idle_deadline, absolute_deadline, remember_me, last_active, lifetime, entries
FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== create; a record under the key fails it (write) =====
INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime, entries, entries_expire_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
WHERE store_key = ? AND expires_at <= ?
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== apply: sets, removes (one also set) and new metadata (write) =====
UPDATE session_kit_sessions SET entries = JSON_MERGE_PATCH(entries, ?), entries_expire_at = CASE WHEN entries_expire_at <= ? THEN entries_expire_at ELSE ? END, created_at = ?, idle_deadline = ?, absolute_deadline = ?, expires_at = ?, remember_me = ?, last_active = ?, lifetime = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '{"notice":"ą","otp":["Ć",1700000660000],"alerts":null}'
-- 2: integer 1700000660000
-- 3: integer 1700000660000
-- 4: integer 1700000000000
-- 5: integer 1700001860000
-- 6: integer NULL
-- 7: integer 1700001860000
-- 8: integer 0
-- 9: integer 1700000060000
-- 10: integer NULL
-- 11: text '01000000000000000000000000000000'
-- 12: integer 1700000000000

-- ===== apply: sets only (write) =====
UPDATE session_kit_sessions SET entries = JSON_MERGE_PATCH(entries, ?)
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '{"notice":"ć"}'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== apply: removes only (write) =====
UPDATE session_kit_sessions SET entries = JSON_MERGE_PATCH(entries, ?)
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '{"notice":null}'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== apply: new metadata only (write) =====
UPDATE session_kit_sessions SET created_at = ?, idle_deadline = ?, absolute_deadline = ?, expires_at = ?, remember_me = ?, last_active = ?, lifetime = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
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
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== delete (write) =====
DELETE FROM session_kit_sessions
WHERE store_key = ?
-- 1: text '01000000000000000000000000000000'

-- ===== rename; a record under the new key fails it (write) =====
UPDATE session_kit_sessions SET store_key = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '02000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== count_live (read) =====
SELECT COUNT(*) FROM session_kit_sessions
WHERE expires_at IS NULL OR expires_at > ?
-- 1: integer 1700000000000

-- ===== collect_expired: a chunk of expired sessions (write) =====
DELETE FROM session_kit_sessions
WHERE expires_at <= ?
ORDER BY expires_at LIMIT ?
-- 1: integer 1700000000000
-- 2: integer 1000

-- ===== collect_expired: sessions holding expired fields (read) =====
SELECT store_key, entries
FROM session_kit_sessions
WHERE entries_expire_at <= ? AND (expires_at IS NULL OR expires_at > ?)
ORDER BY entries_expire_at LIMIT ?
-- 1: integer 1700000000000
-- 2: integer 1700000000000
-- 3: integer 1000

-- ===== collect_expired: prune a session's expired fields, unless it changed (write) =====
UPDATE session_kit_sessions SET entries = ?, entries_expire_at = ?
WHERE store_key = ? AND entries = ?
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
  ORDER BY store_key LIMIT ?
) c ON c.store_key = e.store_key
ORDER BY e.store_key
-- 1: integer 500

-- ===== upgrade from 0.2: a session's fields (write) =====
UPDATE session_kit_sessions SET entries = ?, entries_expire_at = ?
WHERE store_key = ?
-- 1: text '{"user_id":"āĂă"}'
-- 2: integer NULL
-- 3: text '01000000000000000000000000000000'

-- ===== upgrade from 0.2: forget the chunk (write) =====
DELETE FROM session_kit_entries_moving
WHERE store_key <= ?
-- 1: text '01000000000000000000000000000000'

-- ===== upgrade from 0.2: drop the emptied table (schema) =====
DROP TABLE session_kit_entries_moving

-- ===== upgrade: take the lock; whether a column, a table exists; give the lock back (read, one row) =====
SELECT GET_LOCK(SHA1(CONCAT('session_kit upgrade ', DATABASE(), '.', ?)), 0)
-- 1: text 'session_kit_sessions'

SELECT COUNT(*) FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?
-- 1: text 'session_kit_sessions'
-- 2: text 'entries'

SELECT COUNT(*) FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = ?
-- 1: text 'session_kit_entries'

SELECT RELEASE_LOCK(SHA1(CONCAT('session_kit upgrade ', DATABASE(), '.', ?)))
-- 1: text 'session_kit_sessions'
