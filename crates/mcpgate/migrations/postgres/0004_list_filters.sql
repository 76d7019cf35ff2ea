-- List filters served in the order of each sort: a page of tasks filtered by status, or of
-- children filtered by parent, walks only that status's (or parent's) records, in the page's
-- order, however many records the kind has. The kind's own sort indexes (0002) serve the
-- lists without these filters.
CREATE INDEX records_status_created ON records (org, kind, status, created_at, id);
CREATE INDEX records_status_updated ON records (org, kind, status, updated_at, id);
CREATE INDEX records_status_title ON records (org, kind, status, title, id);
CREATE INDEX records_parent_created ON records (org, kind, parent_id, created_at, id);
CREATE INDEX records_parent_updated ON records (org, kind, parent_id, updated_at, id);
CREATE INDEX records_parent_title ON records (org, kind, parent_id, title, id);
