-- Search windows: a search reads the newest matches of its words, in insertion order, a window
-- at a time, and ranks each window itself (so pages cost the same however many records match,
-- and rank as SQLite's do). `seq` is that order, as SQLite's `seq` rowid is; `records_recent`
-- walks an org's records that are not archived newest first, which finds a common word's
-- newest matches after a few rows.
ALTER TABLE records ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX records_recent ON records (org, seq) WHERE archived_at IS NULL;

-- A rare word's matches come from the words of each record, one row per record and word. The
-- GIN index on `search` cannot serve here: row-level security lets only leakproof operators
-- be index conditions, and the full-text match (`@@`) is not one, so every search for a rare
-- word read the whole table. Text comparisons are leakproof, so this table's index serves a
-- word (or a prefix, as a range) under the policy; the match itself is then checked on the
-- few records found. A trigger keeps it in step with `records.search`; a record's deletion
-- takes its rows with it. The same row-level security as `records`.
CREATE TABLE record_words (
    id    text COLLATE "C" NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    word  text COLLATE "C" NOT NULL,
    org   text COLLATE "C" NOT NULL,
    seq   bigint NOT NULL,
    PRIMARY KEY (id, word)
);
CREATE INDEX record_words_lookup ON record_words (org, word, seq);

-- The owner reads every org's records for the backfill (row-level security is forced on it
-- otherwise, and no org is set here).
ALTER TABLE records NO FORCE ROW LEVEL SECURITY;
INSERT INTO record_words (id, word, org, seq)
    SELECT r.id, w.word, r.org, r.seq
    FROM records r, unnest(tsvector_to_array(r.search)) AS w(word)
    ON CONFLICT DO NOTHING;
ALTER TABLE records FORCE ROW LEVEL SECURITY;

CREATE FUNCTION record_words_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM record_words WHERE id = OLD.id;
    END IF;
    INSERT INTO record_words (id, word, org, seq)
        SELECT NEW.id, w.word, NEW.org, NEW.seq
        FROM unnest(tsvector_to_array(NEW.search)) AS w(word)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER record_words_insert AFTER INSERT ON records
    FOR EACH ROW EXECUTE FUNCTION record_words_sync();
-- Every update writes title and body; only a change of either rewrites the words.
CREATE TRIGGER record_words_update AFTER UPDATE OF title, body ON records
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.body IS DISTINCT FROM NEW.body)
    EXECUTE FUNCTION record_words_sync();

ALTER TABLE record_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_words FORCE ROW LEVEL SECURITY;
CREATE POLICY record_words_tenant ON record_words
    USING (org = current_setting('mcpgate.org', true))
    WITH CHECK (org = current_setting('mcpgate.org', true));

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpgate_tenant') THEN
        GRANT USAGE ON SEQUENCE records_seq_seq TO mcpgate_tenant;
        GRANT SELECT, INSERT, UPDATE, DELETE ON record_words TO mcpgate_tenant;
    END IF;
END
$$;
