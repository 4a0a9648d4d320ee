-- The SQL the postgres store sends for each operation, with the values bound to it.
-- Pinned by session-core/src/store/sql/golden.rs; regenerate with SQL_GOLDEN=overwrite (see there).
-- Line breaks and indentation are for reading: a break stands for one space, or for nothing after
-- `(` and before `)`; after a `;` that ends a line it is a real line break.

-- ===== migrate (schema) =====
SELECT pg_advisory_xact_lock(6797356879045918721);
CREATE TABLE IF NOT EXISTS session_kit_sessions (
  store_key TEXT NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  idle_deadline BIGINT,
  absolute_deadline BIGINT,
  expires_at BIGINT,
  remember_me BIGINT NOT NULL,
  last_active BIGINT,
  lifetime BIGINT
);
CREATE INDEX IF NOT EXISTS session_kit_sessions_expires_at ON session_kit_sessions (expires_at)
WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS session_kit_entries (
  store_key TEXT NOT NULL REFERENCES session_kit_sessions (store_key) ON DELETE CASCADE ON UPDATE CASCADE,
  field TEXT NOT NULL,
  value BYTEA NOT NULL,
  expires_at BIGINT,
  PRIMARY KEY (store_key, field)
);
CREATE INDEX IF NOT EXISTS session_kit_entries_expires_at ON session_kit_entries (expires_at)
WHERE expires_at IS NOT NULL;
DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'last_active' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS last_active BIGINT; END IF; END $$;
DO $$ BEGIN IF NOT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'session_kit_sessions'::regclass AND attname = 'lifetime' AND NOT attisdropped
) THEN ALTER TABLE session_kit_sessions ADD COLUMN IF NOT EXISTS lifetime BIGINT; END IF; END $$;


-- ===== load (read) =====
SELECT s.created_at, s.idle_deadline, s.absolute_deadline, s.remember_me, e.field, e.value, e.expires_at, s.last_active, s.lifetime
FROM session_kit_sessions s
LEFT JOIN session_kit_entries e ON e.store_key = s.store_key AND (e.expires_at IS NULL OR e.expires_at > $1)
WHERE s.store_key = $2 AND (s.expires_at IS NULL OR s.expires_at > $3)
-- 1: integer 1700000000000
-- 2: text '01000000000000000000000000000000'
-- 3: integer 1700000000000

-- ===== create; answers 1 if stored, 0 if the key was taken (write) =====
WITH claim AS (
  INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (store_key) DO UPDATE SET created_at = excluded.created_at, idle_deadline = excluded.idle_deadline, absolute_deadline = excluded.absolute_deadline, expires_at = excluded.expires_at, remember_me = excluded.remember_me, last_active = excluded.last_active, lifetime = excluded.lifetime
  WHERE session_kit_sessions.expires_at <= $9
  RETURNING 1
), w1 AS (
  DELETE FROM session_kit_entries
  WHERE store_key = $10 AND EXISTS (SELECT 1 FROM claim) AND field NOT IN ($11, $12)
), w2 AS (
  INSERT INTO session_kit_entries (store_key, field, value, expires_at)
  SELECT * FROM (
    SELECT $13 AS k, $14 AS f, $15 AS v, $16 AS x
    UNION ALL SELECT $17, $18, $19, $20
  ) AS v
  WHERE EXISTS (SELECT 1 FROM claim)
  ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
)
SELECT count(*) FROM claim
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000
-- 9: integer 1700000000000
-- 10: text '01000000000000000000000000000000'
-- 11: text 'user_id'
-- 12: text 'otp'
-- 13: text '01000000000000000000000000000000'
-- 14: text 'user_id'
-- 15: blob x'010203'
-- 16: integer NULL
-- 17: text '01000000000000000000000000000000'
-- 18: text 'otp'
-- 19: blob x'04'
-- 20: integer 1700000600000

-- ===== create: no fields; answers 1 if stored, 0 if the key was taken (write) =====
WITH claim AS (
  INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, last_active, lifetime)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (store_key) DO UPDATE SET created_at = excluded.created_at, idle_deadline = excluded.idle_deadline, absolute_deadline = excluded.absolute_deadline, expires_at = excluded.expires_at, remember_me = excluded.remember_me, last_active = excluded.last_active, lifetime = excluded.lifetime
  WHERE session_kit_sessions.expires_at <= $9
  RETURNING 1
), w1 AS (
  DELETE FROM session_kit_entries
  WHERE store_key = $10 AND EXISTS (SELECT 1 FROM claim)
)
SELECT count(*) FROM claim
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: integer 1700001800000
-- 4: integer 1700043200000
-- 5: integer 1700001800000
-- 6: integer 1
-- 7: integer 1700000000000
-- 8: integer 2592000000
-- 9: integer 1700000000000
-- 10: text '01000000000000000000000000000000'

-- ===== apply: sets, removes (one also set) and new metadata (write, guarded) =====
WITH live AS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2) FOR NO KEY UPDATE
), w0 AS (
  DELETE FROM session_kit_entries
  WHERE store_key = $3 AND field IN ($4) AND EXISTS (SELECT 1 FROM live)
), w1 AS (
  INSERT INTO session_kit_entries (store_key, field, value, expires_at)
  SELECT * FROM (
    SELECT $5 AS k, $6 AS f, $7 AS v, $8 AS x
    UNION ALL SELECT $9, $10, $11, $12
  ) AS v
  WHERE EXISTS (SELECT 1 FROM live)
  ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
), w2 AS (
  UPDATE session_kit_sessions SET created_at = $13, idle_deadline = $14, absolute_deadline = $15, expires_at = $16, remember_me = $17, last_active = $18, lifetime = $19
  WHERE store_key = $20 AND (expires_at IS NULL OR expires_at > $21)
)
SELECT 1 FROM live
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '01000000000000000000000000000000'
-- 4: text 'alerts'
-- 5: text '01000000000000000000000000000000'
-- 6: text 'notice'
-- 7: blob x'05'
-- 8: integer NULL
-- 9: text '01000000000000000000000000000000'
-- 10: text 'otp'
-- 11: blob x'06'
-- 12: integer 1700000660000
-- 13: integer 1700000000000
-- 14: integer 1700001860000
-- 15: integer NULL
-- 16: integer 1700001860000
-- 17: integer 0
-- 18: integer 1700000060000
-- 19: integer NULL
-- 20: text '01000000000000000000000000000000'
-- 21: integer 1700000000000

-- ===== apply: sets only (write, guarded) =====
WITH live AS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2) FOR NO KEY UPDATE
), w0 AS (
  INSERT INTO session_kit_entries (store_key, field, value, expires_at)
  SELECT * FROM (
    SELECT $3 AS k, $4 AS f, $5 AS v, $6 AS x
  ) AS v
  WHERE EXISTS (SELECT 1 FROM live)
  ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
)
SELECT 1 FROM live
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '01000000000000000000000000000000'
-- 4: text 'notice'
-- 5: blob x'07'
-- 6: integer NULL

-- ===== apply: new metadata only (write, guarded) =====
WITH live AS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2) FOR NO KEY UPDATE
), w0 AS (
  UPDATE session_kit_sessions SET created_at = $3, idle_deadline = $4, absolute_deadline = $5, expires_at = $6, remember_me = $7, last_active = $8, lifetime = $9
  WHERE store_key = $10 AND (expires_at IS NULL OR expires_at > $11)
)
SELECT 1 FROM live
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
WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2)
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000

-- ===== delete (write) =====
WITH w0 AS (
  DELETE FROM session_kit_sessions
  WHERE store_key = $1
)
DELETE FROM session_kit_entries
WHERE store_key = $2
-- 1: text '01000000000000000000000000000000'
-- 2: text '01000000000000000000000000000000'

-- ===== rename (write, guarded) =====
WITH live AS (
  SELECT 1 FROM session_kit_sessions
  WHERE store_key = $1 AND (expires_at IS NULL OR expires_at > $2) FOR NO KEY UPDATE
), earlier AS (
  DELETE FROM session_kit_sessions
  WHERE store_key = $3 AND expires_at <= $4 AND EXISTS (SELECT 1 FROM live)
  RETURNING 1
), w1 AS (
  DELETE FROM session_kit_entries
  WHERE store_key = $5 AND NOT EXISTS (
    SELECT 1 FROM session_kit_sessions
    WHERE store_key = $6
  ) AND EXISTS (SELECT 1 FROM live)
), w2 AS (
  UPDATE session_kit_sessions SET store_key = $7
  WHERE store_key = $8 AND (expires_at IS NULL OR expires_at > $9) AND (SELECT count(*) FROM earlier) >= 0
), w3 AS (
  UPDATE session_kit_entries SET store_key = $10
  WHERE store_key = $11 AND EXISTS (
    SELECT 1 FROM session_kit_sessions
    WHERE store_key = $12
  ) AND NOT EXISTS (
    SELECT 1 FROM session_kit_sessions
    WHERE store_key = $13
  )
)
SELECT 1 FROM live
-- 1: text '01000000000000000000000000000000'
-- 2: integer 1700000000000
-- 3: text '02000000000000000000000000000000'
-- 4: integer 1700000000000
-- 5: text '02000000000000000000000000000000'
-- 6: text '02000000000000000000000000000000'
-- 7: text '02000000000000000000000000000000'
-- 8: text '01000000000000000000000000000000'
-- 9: integer 1700000000000
-- 10: text '02000000000000000000000000000000'
-- 11: text '01000000000000000000000000000000'
-- 12: text '02000000000000000000000000000000'
-- 13: text '01000000000000000000000000000000'

-- ===== count_live (read) =====
SELECT COUNT(*) FROM session_kit_sessions
WHERE expires_at IS NULL OR expires_at > $1
-- 1: integer 1700000000000

-- ===== collect_expired: first chunk (write) =====
WITH w0 AS (
  DELETE FROM session_kit_entries
  WHERE expires_at <= $1
), chosen AS (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= $2
  ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM session_kit_sessions
  WHERE store_key IN (SELECT store_key FROM chosen)
  RETURNING 1
)
SELECT count(*) FROM gone
-- 1: integer 1700000000000
-- 2: integer 1700000000000
-- 3: integer 1000

-- ===== collect_expired: later chunks (write) =====
WITH chosen AS (
  SELECT store_key FROM session_kit_sessions
  WHERE expires_at <= $1
  ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM session_kit_sessions
  WHERE store_key IN (SELECT store_key FROM chosen)
  RETURNING 1
)
SELECT count(*) FROM gone
-- 1: integer 1700000000000
-- 2: integer 1000
