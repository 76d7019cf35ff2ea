-- The instance record: which schema this database holds and when it was created.
CREATE TABLE IF NOT EXISTS mcpgate_instance (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT OR IGNORE INTO mcpgate_instance (id) VALUES (1);
