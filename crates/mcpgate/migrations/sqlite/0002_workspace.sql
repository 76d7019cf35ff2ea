-- Workspace records: notes, tasks, comments, chats and chat messages in one table. Columns hold
-- what is filtered, sorted and searched on; `fields` holds the entity's validated fields as JSON.
-- Times are microseconds since the Unix epoch (UTC).
CREATE TABLE records (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- stable rowid for the full-text index
    id           TEXT    NOT NULL UNIQUE,
    org          TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('note', 'task', 'comment', 'chat', 'chat_message')),
    slug         TEXT,
    title        TEXT,
    status       TEXT,
    parent_id    TEXT,
    tags         TEXT    NOT NULL DEFAULT '[]',
    body         TEXT    NOT NULL DEFAULT '',
    fields       TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version > 0),
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    updated_by   TEXT    NOT NULL,
    archived_at  INTEGER,
    UNIQUE (org, id),
    -- A child belongs to a parent in the same org, and goes when its parent goes.
    FOREIGN KEY (org, parent_id) REFERENCES records (org, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX records_slug ON records (org, kind, slug) WHERE slug IS NOT NULL;
CREATE INDEX records_by_created ON records (org, kind, created_at, id);
CREATE INDEX records_by_updated ON records (org, kind, updated_at, id);
CREATE INDEX records_by_title ON records (org, kind, title, id);
CREATE INDEX records_by_parent ON records (org, parent_id, created_at);

CREATE VIRTUAL TABLE records_fts USING fts5(
    title, body,
    content = 'records', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
    INSERT INTO records_fts (rowid, title, body) VALUES (new.seq, coalesce(new.title, ''), new.body);
END;

CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
    INSERT INTO records_fts (records_fts, rowid, title, body)
        VALUES ('delete', old.seq, coalesce(old.title, ''), old.body);
END;

CREATE TRIGGER records_fts_update AFTER UPDATE OF title, body ON records BEGIN
    INSERT INTO records_fts (records_fts, rowid, title, body)
        VALUES ('delete', old.seq, coalesce(old.title, ''), old.body);
    INSERT INTO records_fts (rowid, title, body) VALUES (new.seq, coalesce(new.title, ''), new.body);
END;
