-- The SQL the sqlite store sends for each operation, with the values bound to it.
-- Pinned by session-core/src/store/sql/golden.rs; regenerate with SQL_GOLDEN=overwrite (see there).
-- Line breaks and indentation are for reading: a break stands for one space, or for nothing after
-- `(` and before `)`; after a `;` that ends a line it is a real line break.

-- ===== migrate (schema) =====
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS session_kit_sessions (
  store_key TEXT NOT NULL PRIMARY KEY,
  created_at INTEGER NOT NULL,
  idle_deadline INTEGER,
  absolute_deadline INTEGER,
  expires_at INTEGER,
  remember_me INTEGER NOT NULL,
  last_active INTEGER,
  lifetime INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_kit_sessions_expires_at ON session_kit_sessions (expires_at, store_key)
WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS session_kit_entries (
  store_key TEXT NOT NULL REFERENCES session_kit_sessions (store_key) ON DELETE CASCADE ON UPDATE CASCADE,
  field TEXT NOT NULL,
  value BLOB NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (store_key, field)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_kit_entries_expires_at ON session_kit_entries (expires_at)
WHERE expires_at IS NOT NULL;
COMMIT;

-- ===== load (read) =====
SELECT s.created_at, s.idle_deadline, s.absolute_deadline, s.remember_me, e.field, e.value, e.expires_at, s.last_active, s.lifetime
FROM session_kit_sessions s
LEFT JOIN session_kit_entries e ON e.store_key = s.store_key AND (e.expires_at IS NULL OR e.expires_at > ?)
WHERE s.store_key = ? AND (s.expires_at IS NULL OR s.expires_at > ?);

-- 1: integer 1700000000000
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== create; a live session under the key fails it (write) =====
BEGIN IMMEDIATE;
DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
);
DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ?;
INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);
INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (
  SELECT ? AS k, ? AS f, ? AS v, ? AS x
  UNION ALL SELECT ?, ?, ?, ?
) AS v
WHERE 1 = 1
ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000
-- 4: text '01000000000000000000000000000000'
-- 5: integer 1700000000000
-- 6: text '01000000000000000000000000000000'
-- 7: integer 1700000000000
-- 8: integer 1700001800000
-- 9: integer 1700043200000
-- 10: integer 1700001800000
-- 11: integer 1
-- 12: integer 1700000000000
-- 13: integer 2592000000
-- 14: text '01000000000000000000000000000000'
-- 15: text 'user_id'
-- 16: blob x'010203'
-- 17: integer NULL
-- 18: text '01000000000000000000000000000000'
-- 19: text 'otp'
-- 20: blob x'04'
-- 21: integer 1700000600000

-- ===== create: no fields; a live session under the key fails it (write) =====
BEGIN IMMEDIATE;
DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
);
DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ?;
INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000
-- 4: text '01000000000000000000000000000000'
-- 5: integer 1700000000000
-- 6: text '01000000000000000000000000000000'
-- 7: integer 1700000000000
-- 8: integer 1700001800000
-- 9: integer 1700043200000
-- 10: integer 1700001800000
-- 11: integer 1
-- 12: integer 1700000000000
-- 13: integer 2592000000

-- ===== apply: sets, removes (one also set) and new metadata (write, guarded) =====
BEGIN IMMEDIATE;
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
DELETE FROM session_kit_entries
WHERE store_key = ? AND field IN (?) AND EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
);
INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (
  SELECT ? AS k, ? AS f, ? AS v, ? AS x
  UNION ALL SELECT ?, ?, ?, ?
) AS v
WHERE EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
) ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;
UPDATE session_kit_sessions SET created_at = ?, idle_deadline = ?, absolute_deadline = ?, expires_at = ?, remember_me = ?, last_active = ?, lifetime = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '01000000000000000000000000000000'
-- 4: text 'alerts'
-- 5: text '01000000000000000000000000000000'
-- 6: integer 1700000000000
-- 7: text '01000000000000000000000000000000'
-- 8: text 'notice'
-- 9: blob x'05'
-- 10: integer NULL
-- 11: text '01000000000000000000000000000000'
-- 12: text 'otp'
-- 13: blob x'06'
-- 14: integer 1700000660000
-- 15: text '01000000000000000000000000000000'
-- 16: integer 1700000000000
-- 17: integer 1700000000000
-- 18: integer 1700001860000
-- 19: integer NULL
-- 20: integer 1700001860000
-- 21: integer 0
-- 22: integer 1700000060000
-- 23: integer NULL
-- 24: text '01000000000000000000000000000000'
-- 25: integer 1700000000000

-- ===== apply: sets only (write, guarded) =====
BEGIN IMMEDIATE;
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (SELECT ? AS k, ? AS f, ? AS v, ? AS x) AS v
WHERE EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
) ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '01000000000000000000000000000000'
-- 4: text 'notice'
-- 5: blob x'07'
-- 6: integer NULL
-- 7: text '01000000000000000000000000000000'
-- 8: integer 1700000000000

-- ===== apply: new metadata only (write, guarded) =====
BEGIN IMMEDIATE;
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
UPDATE session_kit_sessions SET created_at = ?, idle_deadline = ?, absolute_deadline = ?, expires_at = ?, remember_me = ?, last_active = ?, lifetime = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700000000000
-- 4: integer 1700001860000
-- 5: integer 1700043200000
-- 6: integer 1700001860000
-- 7: integer 1
-- 8: integer 1700000060000
-- 9: integer 2592000000
-- 10: text '01000000000000000000000000000000'
-- 11: integer 1700000000000

-- ===== apply: nothing to write (read) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);

-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== delete (write) =====
BEGIN IMMEDIATE;
DELETE FROM session_kit_sessions
WHERE store_key = ?;
DELETE FROM session_kit_entries
WHERE store_key = ?;
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'

-- ===== rename (write, guarded) =====
BEGIN IMMEDIATE;
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ? AND EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
);
DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
) AND EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
);
UPDATE session_kit_sessions SET store_key = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?);
UPDATE session_kit_entries SET store_key = ?
WHERE store_key = ? AND EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
) AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
);
COMMIT;
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '02000000000000000000000000000000'
-- 4: integer 1700000000000
-- 5: text '01000000000000000000000000000000'
-- 6: integer 1700000000000
-- 7: text '02000000000000000000000000000000'
-- 8: text '02000000000000000000000000000000'
-- 9: text '01000000000000000000000000000000'
-- 10: integer 1700000000000
-- 11: text '02000000000000000000000000000000'
-- 12: text '01000000000000000000000000000000'
-- 13: integer 1700000000000
-- 14: text '02000000000000000000000000000000'
-- 15: text '01000000000000000000000000000000'
-- 16: text '02000000000000000000000000000000'
-- 17: text '01000000000000000000000000000000'

-- ===== count_live (read) =====
SELECT COUNT(*) FROM session_kit_sessions
WHERE expires_at IS NULL OR expires_at > ?;

-- 1: integer 1700000000000

-- ===== collect_expired: first chunk (write) =====
BEGIN IMMEDIATE;
DELETE FROM session_kit_entries
WHERE expires_at <= ?;
DELETE FROM session_kit_entries
WHERE store_key IN (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= ?
  ORDER BY expires_at, store_key LIMIT ?
);
DELETE FROM session_kit_sessions
WHERE store_key IN (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= ?
  ORDER BY expires_at, store_key LIMIT ?
);
SELECT changes();
COMMIT;
-- 1: integer 1700000000000
-- 2: integer 1700000000000
-- 3: integer 1000
-- 4: integer 1700000000000
-- 5: integer 1000

-- ===== collect_expired: later chunks (write) =====
BEGIN IMMEDIATE;
DELETE FROM session_kit_entries
WHERE store_key IN (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= ?
  ORDER BY expires_at, store_key LIMIT ?
);
DELETE FROM session_kit_sessions
WHERE store_key IN (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= ?
  ORDER BY expires_at, store_key LIMIT ?
);
SELECT changes();
COMMIT;
-- 1: integer 1700000000000
-- 2: integer 1000
-- 3: integer 1700000000000
-- 4: integer 1000

-- ===== upgrade (schema) =====
SELECT name FROM pragma_table_info(?)
-- 1: text 'session_kit_sessions'

ALTER TABLE session_kit_sessions ADD COLUMN last_active INTEGER

ALTER TABLE session_kit_sessions ADD COLUMN lifetime INTEGER
