-- Workspace records: notes, tasks, comments, chats and chat messages in one table. Columns hold
-- what is filtered, sorted and searched on; `fields` holds the entity's validated fields.
--
-- Identifiers and titles use the "C" collation: byte order, as SQLite's BINARY collation, so
-- lists sorted by title (and keyset cursors over `(col, id)`) page identically on both backends
-- whatever the database's locale.
CREATE TABLE records (
    id           text COLLATE "C" PRIMARY KEY,
    org          text COLLATE "C" NOT NULL,
    kind         text COLLATE "C" NOT NULL
                 CHECK (kind IN ('note', 'task', 'comment', 'chat', 'chat_message')),
    slug         text COLLATE "C",
    title        text COLLATE "C",
    status       text COLLATE "C",
    parent_id    text COLLATE "C",
    tags         text[]      NOT NULL DEFAULT '{}',
    body         text        NOT NULL DEFAULT '',
    fields       jsonb       NOT NULL,
    version      bigint      NOT NULL CHECK (version > 0),
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL,
    updated_by   text        NOT NULL,
    archived_at  timestamptz,
    -- Full-text search: the title weighs more (A) than the body (B). The `simple` configuration
    -- only lowercases: no stemming and no stop words, and it is the same for every language.
    -- Search words are matched as prefixes (`word:*`), as SQLite's unicode61 tokenizer with
    -- `"word"*` does; a language configuration would stem the indexed words (`running` ->
    -- `run`) and drop stop words, so a prefix typed in another language, or a stop word, would
    -- miss, and results would differ from SQLite's.
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('simple', coalesce(title, '')), 'A')
                     || setweight(to_tsvector('simple', body), 'B')
                 ) STORED,
    UNIQUE (org, id),
    -- A child belongs to a parent in the same org, and goes when its parent goes.
    FOREIGN KEY (org, parent_id) REFERENCES records (org, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX records_slug ON records (org, kind, slug) WHERE slug IS NOT NULL;
CREATE INDEX records_by_created ON records (org, kind, created_at, id);
CREATE INDEX records_by_updated ON records (org, kind, updated_at, id);
CREATE INDEX records_by_title ON records (org, kind, title, id);
CREATE INDEX records_by_parent ON records (org, parent_id, created_at);
CREATE INDEX records_tags ON records USING gin (tags);
CREATE INDEX records_search ON records USING gin (search);

-- Row-level security: a second wall behind the `org = $1` every query carries. Each store
-- operation runs in a transaction that first sets `mcpgate.org` (transaction-local) to the
-- caller's org; rows of other orgs are invisible and cannot be written. Without the setting
-- nothing is visible. FORCE applies the policy to the table's owner too.
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
ALTER TABLE records FORCE ROW LEVEL SECURITY;
CREATE POLICY records_tenant ON records
    USING (org = current_setting('mcpgate.org', true))
    WITH CHECK (org = current_setting('mcpgate.org', true));

-- Superusers and BYPASSRLS roles skip every policy, FORCE or not. A store connected as one
-- switches to this role (transaction-local) for record operations, so the policy holds for it
-- too. Roles are cluster-wide and several databases may be migrated at once, so creation
-- tolerates the role existing already or being created concurrently (which surfaces as either
-- error, depending on timing). A role that may not create roles skips this: unless it bypasses
-- row-level security it does not need the tenant role, and if it does, the store says so.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpgate_tenant') THEN
        BEGIN
            CREATE ROLE mcpgate_tenant NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role mcpgate_tenant: %', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpgate_tenant') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON records TO mcpgate_tenant;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO mcpgate_tenant', current_schema());
        -- A non-superuser may only switch to roles it is a member of.
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            BEGIN
                EXECUTE format('GRANT mcpgate_tenant TO %I', current_user);
            EXCEPTION
                WHEN insufficient_privilege OR invalid_grant_operation THEN
                    RAISE NOTICE 'cannot grant mcpgate_tenant to %: %', current_user, SQLERRM;
            END;
        END IF;
    END IF;
END
$$;
