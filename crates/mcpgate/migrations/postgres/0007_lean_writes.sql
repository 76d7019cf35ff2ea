-- Writes whose cost does not grow with the workspace.
--
-- The GIN indexes on `search` and `tags` serve no query: row-level security keeps the full-text
-- match and the array operators (not leakproof) from being index conditions, so searches go
-- through `records_recent` and `record_words` (0006) and tag filters through `record_tags`
-- (0005). Each insert still paid for both, and GIN's pending list is merged into the index by
-- whichever insert fills it: the merge of a word in every record grows with the records.
DROP INDEX records_search;
DROP INDEX records_tags;

-- A record's words were checked against `records` one by one (the foreign key: one lookup per
-- word, ~100 per note) and kept in a second index by record. A record's word rows are found
-- instead by what identifies them in the lookup index, its org, words and `seq`, which a
-- record never changes; its deletion takes them with it through the trigger. The lookup index
-- carries the ID, so a rare word's records are found from the index alone.
ALTER TABLE record_words DROP CONSTRAINT record_words_id_fkey;
ALTER TABLE record_words DROP CONSTRAINT record_words_pkey;
DROP INDEX record_words_lookup;
CREATE INDEX record_words_lookup ON record_words (org, word, seq) INCLUDE (id);

-- A tsvector's lexemes are distinct: a record's rows need no conflict check.
CREATE OR REPLACE FUNCTION record_words_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM record_words
        WHERE org = OLD.org AND word = ANY (tsvector_to_array(OLD.search)) AND seq = OLD.seq;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO record_words (id, word, org, seq)
            SELECT NEW.id, w.word, NEW.org, NEW.seq
            FROM unnest(tsvector_to_array(NEW.search)) AS w(word);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER record_words_delete AFTER DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION record_words_sync();
