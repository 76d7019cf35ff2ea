-- The instance record: which schema this database holds and when it was created.
CREATE TABLE IF NOT EXISTS mcpgate_instance (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO mcpgate_instance (id) VALUES (1) ON CONFLICT DO NOTHING;
