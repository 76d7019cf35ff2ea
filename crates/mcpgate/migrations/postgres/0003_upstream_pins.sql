-- Tool pinning: the digest of each upstream tool's definition as first seen (or last approved).
-- Not tenant data: the gateway's own, shared by every replica.
CREATE TABLE IF NOT EXISTS upstream_tool_pins (
    upstream    TEXT NOT NULL,
    tool        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    pinned_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (upstream, tool)
);
