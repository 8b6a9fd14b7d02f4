-- Server-side sessions: the cookie holds a random id, only its sha256 is stored here.
-- Times are unix seconds. user_id is NULL for a signed-out visitor's session (CSRF token,
-- flashes, OAuth state). data is a JSON object; flashes in it are bounded by the app.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL      -- absolute end; the idle limit is applied to last_seen
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- Failed sign-ins, shared by every worker: one row per account name ('user:<name>', lower
-- case, whether or not the account exists) and per client address ('addr:<ip>').
CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    last_failure  INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_failures_last ON login_failures (last_failure);

-- Shown by `flask --app app users list`.
ALTER TABLE users ADD COLUMN last_sign_in_at TEXT;
