-- Invite codes: an admin creates one (`flask --app app invites create`); anyone holding it may
-- create a curator account at /register until it expires or has been used max_uses times.
-- Only the code's sha256 is stored (as for sessions): a copy of the database opens no door.
CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    code_hash   TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL CHECK (length(trim(label)) > 0),
    max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
    uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
-- Which invite an account was created with (NULL: made by an admin). Old app versions ignore it.
ALTER TABLE users ADD COLUMN invite_id INTEGER REFERENCES invites (id);
