-- Numbered, immutable releases of the approved mappings. The files live in
-- <data dir>/releases/<number>/; release.json there lists each file's size and sha256, and
-- this row keeps release.json's own sha256 and the zip bundle's, so both can be verified.
CREATE TABLE releases (
    number          INTEGER PRIMARY KEY CHECK (number >= 1),
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    mappings        INTEGER NOT NULL,
    added           INTEGER NOT NULL,
    changed         INTEGER NOT NULL,
    removed         INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    bundle_name     TEXT NOT NULL,
    bundle_size     INTEGER NOT NULL,
    bundle_sha256   TEXT NOT NULL
);
-- A published release is never changed or withdrawn: a correction is a new release.
CREATE TRIGGER releases_immutable BEFORE UPDATE ON releases BEGIN
    SELECT RAISE(ABORT, 'releases are immutable; create a new release instead');
END;
CREATE TRIGGER releases_permanent BEFORE DELETE ON releases BEGIN
    SELECT RAISE(ABORT, 'releases are permanent; create a new release instead');
END;
