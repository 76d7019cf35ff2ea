-- Tags in a table of their own: one row per record and tag, carrying the record's sort keys, so
-- a list filtered by tag walks that tag's records in the list's order (instead of every record
-- of the kind, each one's tags unpacked). Triggers keep it in step with `records.tags`.
CREATE TABLE record_tags (
    seq         INTEGER NOT NULL,
    tag         TEXT    NOT NULL,
    org         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    title       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (seq, tag)
) WITHOUT ROWID;

CREATE INDEX record_tags_created ON record_tags (org, kind, tag, created_at, id);
CREATE INDEX record_tags_updated ON record_tags (org, kind, tag, updated_at, id);
CREATE INDEX record_tags_title ON record_tags (org, kind, tag, title, id);

INSERT OR IGNORE INTO record_tags (seq, tag, org, kind, id, title, created_at, updated_at)
    SELECT r.seq, j.value, r.org, r.kind, r.id, r.title, r.created_at, r.updated_at
    FROM records r, json_each(r.tags) j
    WHERE j.type = 'text';

CREATE TRIGGER record_tags_insert AFTER INSERT ON records BEGIN
    INSERT OR IGNORE INTO record_tags (seq, tag, org, kind, id, title, created_at, updated_at)
        SELECT new.seq, j.value, new.org, new.kind, new.id, new.title, new.created_at, new.updated_at
        FROM json_each(new.tags) j
        WHERE j.type = 'text';
END;

CREATE TRIGGER record_tags_update AFTER UPDATE OF tags, title, updated_at ON records BEGIN
    DELETE FROM record_tags WHERE seq = old.seq;
    INSERT OR IGNORE INTO record_tags (seq, tag, org, kind, id, title, created_at, updated_at)
        SELECT new.seq, j.value, new.org, new.kind, new.id, new.title, new.created_at, new.updated_at
        FROM json_each(new.tags) j
        WHERE j.type = 'text';
END;

CREATE TRIGGER record_tags_delete AFTER DELETE ON records BEGIN
    DELETE FROM record_tags WHERE seq = old.seq;
END;
