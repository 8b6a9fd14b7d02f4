-- Catalogue refresh (issue 17): items a newer release no longer has are withdrawn, not deleted
-- (approved mappings and proposals reference them); every refresh keeps its report; approved
-- mappings whose KE or pathway was withdrawn or changed past a threshold get a review flag.
-- Expand-only: a previous app version ignores the new columns and tables.
ALTER TABLE key_events ADD COLUMN withdrawn_at TEXT;
ALTER TABLE pathways ADD COLUMN withdrawn_at TEXT;

CREATE TABLE catalog_refreshes (
    id           INTEGER PRIMARY KEY,
    version      TEXT NOT NULL,            -- the release's label (release.json "version", else its checksum)
    source       TEXT NOT NULL,            -- the folder or URL it came from
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ke_import_id INTEGER REFERENCES catalog_imports (id),
    wp_import_id INTEGER REFERENCES catalog_imports (id),
    report       TEXT NOT NULL             -- JSON: added, changed, withdrawn, re-embedded, flagged
);

CREATE TABLE mapping_flags (
    id          INTEGER PRIMARY KEY,
    mapping_id  INTEGER NOT NULL REFERENCES mappings (id) ON DELETE CASCADE,
    refresh_id  INTEGER NOT NULL REFERENCES catalog_refreshes (id),
    reasons     TEXT NOT NULL,             -- JSON list of what changed, in words
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    cleared_by  TEXT,
    cleared_at  TEXT,
    comment     TEXT
);
-- At most one open flag per mapping (a later refresh adds its reasons to it).
CREATE UNIQUE INDEX mapping_flags_one_open ON mapping_flags (mapping_id) WHERE cleared_at IS NULL;
