-- The SQL the mysql store sends for each operation, with the values bound to it.
-- Pinned by session-core/src/store/sql/golden.rs; regenerate with SQL_GOLDEN=overwrite (see there).
-- Line breaks and indentation are for reading: a break stands for one space, or for nothing after
-- `(` and before `)`; after a `;` that ends a line it is a real line break.

-- ===== migrate (schema) =====
CREATE TABLE IF NOT EXISTS session_kit_sessions (
  store_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  idle_deadline BIGINT NULL,
  absolute_deadline BIGINT NULL,
  expires_at BIGINT NULL,
  remember_me BIGINT NOT NULL,
  last_active BIGINT NULL,
  lifetime BIGINT NULL,
  INDEX session_kit_sessions_expires_at (expires_at)
) ENGINE = InnoDB

CREATE TABLE IF NOT EXISTS session_kit_entries (
  store_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  field VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  value LONGBLOB NOT NULL,
  expires_at BIGINT NULL,
  PRIMARY KEY (store_key, field),
  INDEX session_kit_entries_expires_at (expires_at),
  FOREIGN KEY (store_key) REFERENCES session_kit_sessions (store_key) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB

-- ===== load (read) =====
SELECT s.created_at, s.idle_deadline, s.absolute_deadline, s.remember_me, e.field, e.value, e.expires_at, s.last_active, s.lifetime
FROM session_kit_sessions s
LEFT JOIN session_kit_entries e ON e.store_key = s.store_key AND (e.expires_at IS NULL OR e.expires_at > ?)
WHERE s.store_key = ? AND (s.expires_at IS NULL OR s.expires_at > ?)
-- 1: integer 1700000000000
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== create; a live session under the key fails it (write) =====
DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
)
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ?
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000

INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (
  SELECT ? AS k, ? AS f, ? AS v, ? AS x
  UNION ALL SELECT ?, ?, ?, ?
) AS v
WHERE 1 = 1
ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)
-- 1: text '01000000000000000000000000000000'
-- 2: text 'user_id'
-- 3: blob x'010203'
-- 4: integer NULL
-- 5: text '01000000000000000000000000000000'
-- 6: text 'otp'
-- 7: blob x'04'
-- 8: integer 1700000600000

-- ===== create: no fields; a live session under the key fails it (write) =====
DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
)
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ?
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000

-- ===== apply: sets, removes (one also set) and new metadata (write, guarded) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?) FOR UPDATE
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

DELETE FROM session_kit_entries
WHERE store_key = ? AND field IN (?) AND 1 = 1
-- 1: text '01000000000000000000000000000000'
-- 2: text 'alerts'

INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (
  SELECT ? AS k, ? AS f, ? AS v, ? AS x
  UNION ALL SELECT ?, ?, ?, ?
) AS v
WHERE 1 = 1
ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)
-- 1: text '01000000000000000000000000000000'
-- 2: text 'notice'
-- 3: blob x'05'
-- 4: integer NULL
-- 5: text '01000000000000000000000000000000'
-- 6: text 'otp'
-- 7: blob x'06'
-- 8: integer 1700000660000

UPDATE session_kit_sessions SET created_at = ?, idle_deadline = ?, absolute_deadline = ?, expires_at = ?, remember_me = ?, last_active = ?, lifetime = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: integer 1700000000000
-- 2: integer 1700001860000
-- 3: integer NULL
-- 4: integer 1700001860000
-- 5: integer 0
-- 6: integer 1700000060000
-- 7: integer NULL
-- 8: text '01000000000000000000000000000000'
-- 9: integer 1700000000000

-- ===== apply: sets only (write, guarded) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?) FOR UPDATE
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

INSERT INTO session_kit_entries (store_key, field, value, expires_at)
SELECT * FROM (SELECT ? AS k, ? AS f, ? AS v, ? AS x) AS v
WHERE 1 = 1
ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)
-- 1: text '01000000000000000000000000000000'
-- 2: text 'notice'
-- 3: blob x'07'
-- 4: integer NULL

-- ===== apply: new metadata only (write, guarded) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?) FOR UPDATE
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

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

-- ===== apply: nothing to write (read) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== delete (write) =====
DELETE FROM session_kit_sessions
WHERE store_key = ?
-- 1: text '01000000000000000000000000000000'

DELETE FROM session_kit_entries
WHERE store_key = ?
-- 1: text '01000000000000000000000000000000'

-- ===== rename (write, guarded) =====
SELECT 1 FROM session_kit_sessions
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?) FOR UPDATE
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

DELETE FROM session_kit_sessions
WHERE store_key = ? AND expires_at <= ? AND 1 = 1
-- 1: text '02000000000000000000000000000000'
-- 2: integer 1700000000000

DELETE FROM session_kit_entries
WHERE store_key = ? AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
) AND 1 = 1
-- 1: text '02000000000000000000000000000000'
-- 2: text '02000000000000000000000000000000'

UPDATE session_kit_sessions SET store_key = ?
WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)
-- 1: text '02000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

UPDATE session_kit_entries SET store_key = ?
WHERE store_key = ? AND EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
) AND NOT EXISTS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = ?
)
-- 1: text '02000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'
-- 3: text '02000000000000000000000000000000'
-- 4: text '01000000000000000000000000000000'

-- ===== count_live (read) =====
SELECT COUNT(*) FROM session_kit_sessions
WHERE expires_at IS NULL OR expires_at > ?
-- 1: integer 1700000000000

-- ===== collect_expired: first chunk (write) =====
DELETE FROM session_kit_entries
WHERE expires_at <= ?
-- 1: integer 1700000000000

DELETE FROM session_kit_sessions
WHERE expires_at <= ?
ORDER BY expires_at LIMIT ?
-- 1: integer 1700000000000
-- 2: integer 1000

SELECT ROW_COUNT()

-- ===== collect_expired: later chunks (write) =====
DELETE FROM session_kit_sessions
WHERE expires_at <= ?
ORDER BY expires_at LIMIT ?
-- 1: integer 1700000000000
-- 2: integer 1000

SELECT ROW_COUNT()

-- ===== upgrade: last_active (schema) =====
SELECT COUNT(*) FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?
-- 1: text 'session_kit_sessions'
-- 2: text 'last_active'

ALTER TABLE session_kit_sessions ADD COLUMN last_active BIGINT NULL

-- ===== upgrade: lifetime (schema) =====
SELECT COUNT(*) FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?
-- 1: text 'session_kit_sessions'
-- 2: text 'lifetime'

ALTER TABLE session_kit_sessions ADD COLUMN lifetime BIGINT NULL
