-- Sign-in with OpenID Connect providers (ORCID, LS Login, ...): an identity is the provider's
-- name in kewp's settings plus the provider's `sub`, never a name or an e-mail, so an identity
-- can never be mistaken for a local account of the same name. The account it signs in to is a
-- users row without a password (local sign-in is then impossible for it).
CREATE TABLE oidc_identities (
    id              INTEGER PRIMARY KEY,
    provider        TEXT NOT NULL CHECK (provider GLOB '[a-z0-9]*' AND length(provider) BETWEEN 1 AND 30),
    subject         TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    display_name    TEXT NOT NULL,              -- the provider's `name` when last seen
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    last_sign_in_at TEXT,
    UNIQUE (provider, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);
-- Where review outcomes are mailed (issue 18): private, never shown on a page or in an export.
-- Set by `flask users set-email`, or from a provider's verified e-mail claim at first sign-in.
-- Old app versions ignore it.
ALTER TABLE users ADD COLUMN email TEXT;
