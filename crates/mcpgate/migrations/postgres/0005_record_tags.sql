-- Tags in a table of their own: one row per record and tag, carrying the record's sort keys, so
-- a list filtered by tag walks that tag's records in the list's order (the GIN index finds a
-- tag's records, but then every one of them is sorted for a page). A trigger keeps it in step
-- with `records.tags`; the record's deletion takes its rows with it. The same row-level
-- security as `records`.
CREATE TABLE record_tags (
    id          text COLLATE "C" NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    tag         text COLLATE "C" NOT NULL,
    org         text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    title       text COLLATE "C",
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (id, tag)
);

CREATE INDEX record_tags_created ON record_tags (org, kind, tag, created_at, id);
CREATE INDEX record_tags_updated ON record_tags (org, kind, tag, updated_at, id);
CREATE INDEX record_tags_title ON record_tags (org, kind, tag, title, id);

-- The owner reads every org's records for the backfill (row-level security is forced on it
-- otherwise, and no org is set here).
ALTER TABLE records NO FORCE ROW LEVEL SECURITY;
INSERT INTO record_tags (id, tag, org, kind, title, created_at, updated_at)
    SELECT DISTINCT r.id, t.tag, r.org, r.kind, r.title, r.created_at, r.updated_at
    FROM records r, unnest(r.tags) AS t(tag)
    ON CONFLICT DO NOTHING;
ALTER TABLE records FORCE ROW LEVEL SECURITY;

CREATE FUNCTION record_tags_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM record_tags WHERE id = OLD.id;
    END IF;
    INSERT INTO record_tags (id, tag, org, kind, title, created_at, updated_at)
        SELECT DISTINCT NEW.id, t.tag, NEW.org, NEW.kind, NEW.title, NEW.created_at, NEW.updated_at
        FROM unnest(NEW.tags) AS t(tag)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER record_tags_insert AFTER INSERT ON records
    FOR EACH ROW EXECUTE FUNCTION record_tags_sync();
CREATE TRIGGER record_tags_update AFTER UPDATE OF tags, title, updated_at ON records
    FOR EACH ROW EXECUTE FUNCTION record_tags_sync();

ALTER TABLE record_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY record_tags_tenant ON record_tags
    USING (org = current_setting('mcpgate.org', true))
    WITH CHECK (org = current_setting('mcpgate.org', true));

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpgate_tenant') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON record_tags TO mcpgate_tenant;
    END IF;
END
$$;
