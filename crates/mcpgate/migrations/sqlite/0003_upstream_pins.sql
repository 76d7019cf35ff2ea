-- Tool pinning: the digest of each upstream tool's definition as first seen (or last approved).
CREATE TABLE IF NOT EXISTS upstream_tool_pins (
    upstream    TEXT NOT NULL,
    tool        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    pinned_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (upstream, tool)
);
