-- Search windows: the words of the full-text index, so that a search word is given to FTS5 as
-- the words it begins (`"incident" OR "incidents"`), which FTS5 reads lazily newest first,
-- instead of as a prefix query (`"incid"*`), which merges every such word's postings before
-- the first row. The server adds a record's words when it writes the record; words are never
-- removed (a word no record has any more matches nothing). Existing words come from the
-- index itself, as it has folded them.
CREATE TABLE search_terms (
    term TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE VIRTUAL TABLE records_fts_words USING fts5vocab(records_fts, 'row');
INSERT OR IGNORE INTO search_terms (term)
    SELECT term FROM records_fts_words WHERE length(term) <= 64;
DROP TABLE records_fts_words;
