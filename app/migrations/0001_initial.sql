-- Catalogue: AOP-Wiki Key Events and WikiPathways pathways.
CREATE TABLE key_events (
    ke_id        TEXT PRIMARY KEY CHECK (ke_id GLOB 'KE [0-9]*'),
    title        TEXT NOT NULL CHECK (length(trim(title)) > 0),
    bio_level    TEXT,
    description  TEXT,
    aop_ids      TEXT NOT NULL DEFAULT '[]',   -- JSON array of "AOP n"
    extra        TEXT NOT NULL DEFAULT '{}',   -- JSON: AOP titles, roles, event components
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE pathways (
    wp_id        TEXT PRIMARY KEY CHECK (wp_id GLOB 'WP[0-9]*'),
    title        TEXT NOT NULL CHECK (length(trim(title)) > 0),
    organism     TEXT,
    description  TEXT,
    genes        TEXT NOT NULL DEFAULT '[]',   -- JSON array of HGNC symbols
    extra        TEXT NOT NULL DEFAULT '{}',   -- JSON: entrez ids, ontology ids, revision
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE ke_relationships (
    ker_id            TEXT PRIMARY KEY,
    upstream_ke_id    TEXT NOT NULL,
    downstream_ke_id  TEXT NOT NULL
);
CREATE INDEX ke_relationships_up ON ke_relationships (upstream_ke_id);
CREATE INDEX ke_relationships_down ON ke_relationships (downstream_ke_id);

-- External-content FTS5 indexes, kept in step by triggers.
CREATE VIRTUAL TABLE key_events_fts USING fts5(
    title, description, content='key_events', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER key_events_ai AFTER INSERT ON key_events BEGIN
    INSERT INTO key_events_fts (rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
CREATE TRIGGER key_events_ad AFTER DELETE ON key_events BEGIN
    INSERT INTO key_events_fts (key_events_fts, rowid, title, description)
    VALUES ('delete', old.rowid, old.title, old.description);
END;
CREATE TRIGGER key_events_au AFTER UPDATE ON key_events BEGIN
    INSERT INTO key_events_fts (key_events_fts, rowid, title, description)
    VALUES ('delete', old.rowid, old.title, old.description);
    INSERT INTO key_events_fts (rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;

CREATE VIRTUAL TABLE pathways_fts USING fts5(
    title, description, genes, content='pathways', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER pathways_ai AFTER INSERT ON pathways BEGIN
    INSERT INTO pathways_fts (rowid, title, description, genes) VALUES (new.rowid, new.title, new.description, new.genes);
END;
CREATE TRIGGER pathways_ad AFTER DELETE ON pathways BEGIN
    INSERT INTO pathways_fts (pathways_fts, rowid, title, description, genes)
    VALUES ('delete', old.rowid, old.title, old.description, old.genes);
END;
CREATE TRIGGER pathways_au AFTER UPDATE ON pathways BEGIN
    INSERT INTO pathways_fts (pathways_fts, rowid, title, description, genes)
    VALUES ('delete', old.rowid, old.title, old.description, old.genes);
    INSERT INTO pathways_fts (rowid, title, description, genes) VALUES (new.rowid, new.title, new.description, new.genes);
END;

-- One row per import run; the newest per kind is the "catalogue version" stamped on mappings.
CREATE TABLE catalog_imports (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,           -- key_events | pathways | ke_relationships
    source      TEXT NOT NULL,           -- file name
    sha256      TEXT NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    unchanged   INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Local accounts; GitHub sign-in links github_login to an account.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('curator', 'admin')),
    github_login  TEXT UNIQUE,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Approved KE -> pathway mappings.
CREATE TABLE mappings (
    id               INTEGER PRIMARY KEY,
    ke_id            TEXT NOT NULL REFERENCES key_events (ke_id),
    wp_id            TEXT NOT NULL REFERENCES pathways (wp_id),
    relationship     TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    specificity      TEXT NOT NULL,
    coverage         TEXT NOT NULL,
    confidence       TEXT NOT NULL CHECK (confidence IN ('high', 'medium', 'low')),
    rationale        TEXT NOT NULL,
    suggestion_score REAL,
    proposed_by      TEXT NOT NULL,
    approved_by      TEXT NOT NULL,
    ke_catalog_version INTEGER,
    wp_catalog_version INTEGER,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (ke_id, wp_id)
);
CREATE INDEX mappings_wp ON mappings (wp_id);

-- Proposals to create, change or delete a mapping; pending until an admin decides.
CREATE TABLE proposals (
    id               INTEGER PRIMARY KEY,
    action           TEXT NOT NULL CHECK (action IN ('create', 'change', 'delete')),
    ke_id            TEXT NOT NULL REFERENCES key_events (ke_id),
    wp_id            TEXT NOT NULL REFERENCES pathways (wp_id),
    mapping_id       INTEGER REFERENCES mappings (id) ON DELETE SET NULL,
    relationship     TEXT,
    evidence         TEXT,
    specificity      TEXT,
    coverage         TEXT,
    confidence       TEXT CHECK (confidence IN ('high', 'medium', 'low')),
    rationale        TEXT NOT NULL,
    suggestion_score REAL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    proposed_by      TEXT NOT NULL,
    proposed_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    reviewed_by      TEXT,
    reviewed_at      TEXT,
    review_comment   TEXT
);
-- At most one pending proposal per KE/pathway pair.
CREATE UNIQUE INDEX proposals_one_pending ON proposals (ke_id, wp_id) WHERE status = 'pending';
CREATE INDEX proposals_status ON proposals (status, proposed_at);

-- Every change: who, when, what it was before and after (JSON).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    before     TEXT,
    after      TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
