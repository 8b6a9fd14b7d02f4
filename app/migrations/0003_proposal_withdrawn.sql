-- A curator may withdraw their own pending proposal: status 'withdrawn' (issue 18).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with the same
-- columns, rows, ids and indexes. Nothing references proposals by foreign key (the audit log
-- names proposals by id in text), so dropping the old table touches no other row.
-- Expand-only: a previous app version reads the rebuilt table unchanged.
CREATE TABLE proposals_v3 (
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
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    proposed_by      TEXT NOT NULL,
    proposed_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    reviewed_by      TEXT,
    reviewed_at      TEXT,
    review_comment   TEXT
);
INSERT INTO proposals_v3 SELECT id, action, ke_id, wp_id, mapping_id, relationship, evidence, specificity,
    coverage, confidence, rationale, suggestion_score, status, proposed_by, proposed_at, reviewed_by,
    reviewed_at, review_comment FROM proposals;
DROP TABLE proposals;
ALTER TABLE proposals_v3 RENAME TO proposals;
CREATE UNIQUE INDEX proposals_one_pending ON proposals (ke_id, wp_id) WHERE status = 'pending';
CREATE INDEX proposals_status ON proposals (status, proposed_at);
CREATE INDEX proposals_proposer ON proposals (proposed_by COLLATE NOCASE, status);
