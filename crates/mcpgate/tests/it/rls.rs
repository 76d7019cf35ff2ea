//! PostgreSQL tenant isolation, both walls: the store's own methods never reach another org's
//! records, even given their exact IDs and slugs; and row-level security, checked with raw SQL
//! that carries no `org` filter at all, hides and refuses other orgs' rows by itself.

use std::sync::Arc;

use mcpgate::edge::{AuthVia, Principal};
use mcpgate::store::{self, Store};
use mcpgate::workspace::record::{ArchivedFilter, ListQuery, SortField, WriteOutcome, now};
use mcpgate::workspace::search::SearchWindow;
use mcpgate::workspace::{Kind, Record, Tenant, slug};
use serde_json::json;
use sqlx::Connection;

use crate::support::{PgDatabase, config, postgres_database};

fn tenant(org: &str) -> Tenant {
    Tenant::of(&Principal::new(
        &format!("{org}-user"),
        org,
        "admin",
        AuthVia::Default,
    ))
}

fn new_id(kind: Kind) -> String {
    format!("{}_{}", kind.id_prefix(), uuid::Uuid::now_v7().simple())
}

fn note(t: &Tenant, title: &str, body: &str, tags: &[&str]) -> Record {
    let at = now();
    Record {
        id: new_id(Kind::Note),
        kind: Kind::Note,
        slug: Some(slug::slugify(title)),
        title: Some(title.to_owned()),
        status: None,
        parent_id: None,
        tags: tags.iter().map(|s| (*s).to_owned()).collect(),
        text: body.to_owned(),
        fields: json!({"title": title, "body": body, "tags": tags, "pinned": false}),
        version: 1,
        created_at: at,
        created_by: t.actor().to_owned(),
        updated_at: at,
        updated_by: t.actor().to_owned(),
        archived_at: None,
    }
}

fn comment(t: &Tenant, target: &Record, body: &str) -> Record {
    let at = now();
    Record {
        id: new_id(Kind::Comment),
        kind: Kind::Comment,
        slug: None,
        title: None,
        status: Some("open".into()),
        parent_id: Some(target.id.clone()),
        tags: Vec::new(),
        text: body.to_owned(),
        fields: json!({"target_id": target.id, "body": body, "status": "open"}),
        version: 1,
        created_at: at,
        created_by: t.actor().to_owned(),
        updated_at: at,
        updated_by: t.actor().to_owned(),
        archived_at: None,
    }
}

fn list_of(kind: Kind) -> ListQuery {
    ListQuery {
        kind,
        status: None,
        tag: None,
        parent_id: None,
        archived: ArchivedFilter::Exclude,
        updated_since: None,
        sort: SortField::CreatedAt,
        descending: false,
        after: None,
        limit: 100,
    }
}

fn search_for(words: &[&str]) -> SearchWindow {
    SearchWindow {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        before: None,
        size: 10,
    }
}

/// A migrated PostgreSQL store over a fresh database, or `None` when none is configured.
async fn migrated_store() -> Option<(Arc<dyn Store>, PgDatabase)> {
    let db = postgres_database().await?;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, &[("MCPGATE_DATABASE_URL", &db.url)]);
    let store = store::open(&cfg.store).await.expect("open");
    assert_eq!(store.backend(), "postgres");
    store.migrate().await.expect("migrate");
    Some((store, db))
}

#[tokio::test]
async fn row_level_security_hides_and_refuses_other_orgs_rows_without_any_filter() {
    let Some((store, db)) = migrated_store().await else {
        return;
    };
    let (a, b) = (tenant("a"), tenant("b"));
    let a_note = store
        .insert_record(&a, &note(&a, "Plan", "for a", &[]))
        .await
        .expect("insert a");
    store
        .insert_record(&a, &comment(&a, &a_note, "a's comment"))
        .await
        .expect("insert a's comment");
    let b_note = store
        .insert_record(&b, &note(&b, "Plan", "for b", &[]))
        .await
        .expect("insert b");

    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let count = "SELECT count(*) FROM records";

    // Acting for org a: a's two rows, none of b's, with no WHERE clause to help.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SET LOCAL ROLE mcpgate_tenant")
        .execute(&mut *tx)
        .await
        .expect("the migration created the tenant role");
    sqlx::query("SELECT set_config('mcpgate.org', 'a', true)")
        .execute(&mut *tx)
        .await
        .expect("scope to a");
    let (seen,): (i64,) = sqlx::query_as(count)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 2, "org a sees exactly its own rows");
    let orgs: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT org FROM records")
        .fetch_all(&mut *tx)
        .await
        .expect("orgs");
    assert_eq!(orgs, vec![("a".to_owned(),)]);
    let (by_id,): (i64,) = sqlx::query_as("SELECT count(*) FROM records WHERE id = $1")
        .bind(&b_note.id)
        .fetch_one(&mut *tx)
        .await
        .expect("by id");
    assert_eq!(by_id, 0, "b's row is invisible even by its exact ID");
    // The rows that index records by word and by tag are walled alike: only a's, none for
    // b's note even by its ID, and none can be written for b.
    for table in ["record_words", "record_tags"] {
        let orgs: Vec<(String,)> = sqlx::query_as(&format!("SELECT DISTINCT org FROM {table}"))
            .fetch_all(&mut *tx)
            .await
            .expect("orgs");
        assert!(orgs.iter().all(|(org,)| org == "a"), "{table}: {orgs:?}");
        let (of_b,): (i64,) =
            sqlx::query_as(&format!("SELECT count(*) FROM {table} WHERE id = $1"))
                .bind(&b_note.id)
                .fetch_one(&mut *tx)
                .await
                .expect("by id");
        assert_eq!(of_b, 0, "{table}: b's rows are invisible");
    }
    let (words,): (i64,) = sqlx::query_as("SELECT count(*) FROM record_words WHERE word = 'plan'")
        .fetch_one(&mut *tx)
        .await
        .expect("words");
    assert_eq!(words, 1, "a's own note is found by its word, b's is not");
    let mut savepoint = tx.begin().await.expect("savepoint");
    let refused =
        sqlx::query("INSERT INTO record_words (id, word, org, seq) VALUES ($1, 'plan', 'b', 1)")
            .bind(&b_note.id)
            .execute(&mut *savepoint)
            .await
            .expect_err("a word row for another org is refused");
    assert_policy_refusal(&refused);
    savepoint.rollback().await.expect("rollback to savepoint");
    // Writes to b's rows touch nothing.
    let updated = sqlx::query("UPDATE records SET title = 'taken' WHERE org = 'b'")
        .execute(&mut *tx)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(updated, 0);
    let deleted = sqlx::query("DELETE FROM records WHERE id = $1")
        .bind(&b_note.id)
        .execute(&mut *tx)
        .await
        .expect("delete")
        .rows_affected();
    assert_eq!(deleted, 0);
    // Moving a's own row to org b is refused.
    let moved = sqlx::query("UPDATE records SET org = 'b' WHERE id = $1")
        .bind(&a_note.id)
        .execute(&mut *tx)
        .await
        .expect_err("a row cannot leave its org");
    assert_policy_refusal(&moved);
    tx.rollback().await.expect("rollback");

    // Inserting a row for org b while acting for a is refused by the policy.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SET LOCAL ROLE mcpgate_tenant")
        .execute(&mut *tx)
        .await
        .expect("role");
    sqlx::query("SELECT set_config('mcpgate.org', 'a', true)")
        .execute(&mut *tx)
        .await
        .expect("scope to a");
    let refused = sqlx::query(
        "INSERT INTO records (id, org, kind, fields, version, created_at, created_by, \
         updated_at, updated_by) \
         VALUES ('note_intruder', 'b', 'note', '{}', 1, now(), 'a-user', now(), 'a-user')",
    )
    .execute(&mut *tx)
    .await
    .expect_err("writing into another org is refused");
    assert_policy_refusal(&refused);
    tx.rollback().await.expect("rollback");

    // With no org set, nothing is visible (the setting is transaction-local, so it is gone).
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SET LOCAL ROLE mcpgate_tenant")
        .execute(&mut *tx)
        .await
        .expect("role");
    let (seen,): (i64,) = sqlx::query_as(count)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 0, "no org set: no rows");
    tx.rollback().await.expect("rollback");

    // The intruder row never landed, and b's row is intact: as b, one row, its own.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query(
        "SELECT set_config('role', 'mcpgate_tenant', true), set_config('mcpgate.org', 'b', true)",
    )
    .execute(&mut *tx)
    .await
    .expect("scope to b");
    let rows: Vec<(String, Option<String>)> = sqlx::query_as("SELECT id, title FROM records")
        .fetch_all(&mut *tx)
        .await
        .expect("b's rows");
    assert_eq!(rows, vec![(b_note.id.clone(), Some("Plan".to_owned()))]);
    tx.rollback().await.expect("rollback");

    conn.close().await.expect("close");
    store.close().await;
}

fn assert_policy_refusal(e: &sqlx::Error) {
    let db = e.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("42501"), "{db}");
    assert!(db.message().contains("row-level security"), "{db}");
}

#[tokio::test]
async fn store_methods_never_reach_another_orgs_records() {
    let Some((store, _db)) = migrated_store().await else {
        return;
    };
    isolation_holds(store).await;
}

/// A store connected as a login role that is neither superuser nor BYPASSRLS (as a
/// production deployment should be) works only if each of its transactions sets the org:
/// row-level security binds it, so a transaction without `mcpgate.org` sees and writes
/// nothing.
#[tokio::test]
async fn the_store_scopes_its_transactions_when_connected_as_an_ordinary_role() {
    let Some(db) = postgres_database_owned_by(APP_ROLE).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, &[("MCPGATE_DATABASE_URL", &db.url)]);
    let store = store::open(&cfg.store).await.expect("open as the app role");
    store.migrate().await.expect("the database owner migrates");
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let (user, bypasses): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await
    .expect("role");
    assert_eq!((user.as_str(), bypasses), (APP_ROLE, false));
    isolation_holds(store).await;
}

/// A store connected as a superuser (which row-level security does not bind) must act as the
/// tenant role with the org set in every transaction that writes: a trigger installed here
/// refuses any write that is not, so dropping the store's role switch fails this test.
#[tokio::test]
async fn a_superuser_store_writes_only_as_the_tenant_role_for_the_callers_org() {
    let Some((store, db)) = migrated_store().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE FUNCTION assert_tenant_scope() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           -- Foreign-key cascades run as the table's owner, inside the store's own delete.
           IF pg_trigger_depth() = 1 AND (current_user <> 'mcpgate_tenant'
              OR current_setting('mcpgate.org', true) IS DISTINCT FROM
                 (CASE WHEN TG_OP = 'DELETE' THEN OLD.org ELSE NEW.org END)) THEN
             RAISE EXCEPTION 'unscoped store write: user %, org %',
               current_user, current_setting('mcpgate.org', true);
           END IF;
           RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
         END $$;
         CREATE TRIGGER assert_tenant_scope BEFORE INSERT OR UPDATE OR DELETE ON records
           FOR EACH ROW EXECUTE FUNCTION assert_tenant_scope();",
    )
    .execute(&mut conn)
    .await
    .expect("install the check");
    let seeded = store
        .insert_record(&tenant("seed"), &note(&tenant("seed"), "Seed", "x", &[]))
        .await;
    assert!(seeded.is_ok(), "the store's own write passes: {seeded:?}");
    // The check bites: a superuser write outside the tenant role is refused.
    let refused = sqlx::query("DELETE FROM records")
        .execute(&mut conn)
        .await
        .expect_err("an unscoped write is refused");
    assert!(
        refused.to_string().contains("unscoped store write"),
        "{refused}"
    );
    isolation_holds(store).await;
}

/// The login role of the ordinary-role test: no superuser, no BYPASSRLS, no CREATEROLE.
const APP_ROLE: &str = "mcpgate_app";

/// A fresh database owned by the login role `role` (made if missing), with a URL that
/// connects as it.
async fn postgres_database_owned_by(role: &str) -> Option<PgDatabase> {
    let db = postgres_database().await?;
    let mut admin = sqlx::PgConnection::connect(db.admin_url())
        .await
        .expect("connect as admin");
    // Roles are cluster-wide and tests run concurrently: creating one may race.
    let create = format!(
        "DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    sqlx::raw_sql(&create)
        .execute(&mut admin)
        .await
        .expect("create the role");
    sqlx::query(&format!("ALTER DATABASE {} OWNER TO {role}", db.name()))
        .execute(&mut admin)
        .await
        .expect("hand the database over");
    Some(db.connecting_as(role))
}

/// Every store method stays inside its caller's org.
async fn isolation_holds(store: Arc<dyn Store>) {
    let (a, b) = (tenant("a"), tenant("b"));

    let a_note = store
        .insert_record(
            &a,
            &note(
                &a,
                "Release checklist",
                "Tag the build, then publish the crate.",
                &["release"],
            ),
        )
        .await
        .expect("insert a's note");
    assert_eq!(a_note.slug.as_deref(), Some("release-checklist"));
    let a_comment = store
        .insert_record(&a, &comment(&a, &a_note, "Publishing needs the token."))
        .await
        .expect("insert a's comment");
    // Slugs are unique per org: b gets the same slug for the same title.
    let b_note = store
        .insert_record(
            &b,
            &note(
                &b,
                "Release checklist",
                "Bake the cake first.",
                &["release"],
            ),
        )
        .await
        .expect("insert b's note");
    assert_eq!(b_note.slug.as_deref(), Some("release-checklist"));
    // Within one org the next free slug is taken.
    let a_second = store
        .insert_record(&a, &note(&a, "Release checklist", "Second copy.", &[]))
        .await
        .expect("insert a's second note");
    assert_eq!(a_second.slug.as_deref(), Some("release-checklist-2"));

    // Find: by ID and by slug, each org gets its own record or nothing.
    let found = store
        .find_record(&a, Kind::Note, &a_note.id)
        .await
        .expect("find")
        .expect("a finds its note");
    assert_eq!(found, a_note);
    assert_eq!(
        store
            .find_record(&b, Kind::Note, &a_note.id)
            .await
            .expect("find"),
        None,
        "b cannot find a's note by its exact ID"
    );
    assert_eq!(
        store
            .find_record(&b, Kind::Comment, &a_comment.id)
            .await
            .expect("find"),
        None
    );
    let by_slug = store
        .find_record(&b, Kind::Note, "release-checklist")
        .await
        .expect("find")
        .expect("b finds its own note by the shared slug");
    assert_eq!(by_slug.id, b_note.id);
    assert_eq!(
        store
            .find_record(&b, Kind::Note, "release-checklist-2")
            .await
            .expect("find"),
        None,
        "b cannot find a's second note by its exact slug"
    );

    // List: each org sees its own notes only, whatever the filters.
    let ids = |records: Vec<Record>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let a_list = store
        .list_records(&a, &list_of(Kind::Note))
        .await
        .expect("list");
    assert_eq!(ids(a_list), vec![a_note.id.clone(), a_second.id.clone()]);
    let b_list = store
        .list_records(&b, &list_of(Kind::Note))
        .await
        .expect("list");
    assert_eq!(ids(b_list), vec![b_note.id.clone()]);
    let tagged = ListQuery {
        tag: Some("release".into()),
        archived: ArchivedFilter::Include,
        ..list_of(Kind::Note)
    };
    assert_eq!(
        ids(store.list_records(&b, &tagged).await.expect("list")),
        vec![b_note.id.clone()]
    );
    let children = ListQuery {
        parent_id: Some(a_note.id.clone()),
        ..list_of(Kind::Comment)
    };
    assert_eq!(
        ids(store.list_records(&b, &children).await.expect("list")),
        Vec::<String>::new(),
        "b cannot list the comments on a's note"
    );
    assert_eq!(
        ids(store.list_records(&a, &children).await.expect("list")),
        vec![a_comment.id.clone()]
    );

    // Update: b writing a's note by its exact ID and version finds nothing.
    let hijack = Record {
        title: Some("Hijacked".into()),
        updated_by: b.actor().to_owned(),
        ..a_note.clone()
    };
    assert_eq!(
        store.update_record(&b, &hijack).await.expect("update"),
        WriteOutcome::NotFound
    );
    // a's own update works, and a stale version is a conflict naming the current one.
    let renamed = Record {
        title: Some("Release checklist v2".into()),
        updated_at: now(),
        ..a_note.clone()
    };
    let WriteOutcome::Done(updated) = store.update_record(&a, &renamed).await.expect("update")
    else {
        panic!("a updates its own note");
    };
    assert_eq!(updated.version, 2);
    assert_eq!(updated.title.as_deref(), Some("Release checklist v2"));
    assert_eq!(
        updated.slug.as_deref(),
        Some("release-checklist"),
        "slugs are kept"
    );
    assert_eq!(
        store.update_record(&a, &renamed).await.expect("update"),
        WriteOutcome::Conflict { current: 2 }
    );

    // Search: b's words never hit a's records, and a's hits carry marked snippets.
    let b_hits = store
        .search_window(&b, &search_for(&["publish"]))
        .await
        .expect("search");
    assert!(b_hits.is_empty(), "{b_hits:?}");
    let b_hits = store
        .search_window(&b, &search_for(&["rel", "check"]))
        .await
        .expect("search");
    assert_eq!(
        b_hits.iter().map(|h| &h.id).collect::<Vec<_>>(),
        vec![&b_note.id]
    );
    let a_hits = store
        .search_window(&a, &search_for(&["publi"]))
        .await
        .expect("search");
    let a_ids: Vec<&String> = a_hits.iter().map(|h| &h.id).collect();
    assert_eq!(a_ids.len(), 2, "{a_hits:?}");
    assert!(a_ids.contains(&&a_note.id) && a_ids.contains(&&a_comment.id));

    // Delete: b cannot delete a's note, even by exact ID and version.
    assert_eq!(
        store
            .delete_record(&b, Kind::Note, &a_note.id, Some(2))
            .await
            .expect("delete"),
        WriteOutcome::NotFound
    );
    assert_eq!(
        store
            .delete_record(&b, Kind::Note, &a_note.id, None)
            .await
            .expect("delete"),
        WriteOutcome::NotFound
    );
    assert!(
        store
            .find_record(&a, Kind::Note, &a_note.id)
            .await
            .expect("find")
            .is_some(),
        "a's note survived"
    );
    // a's own delete: a stale version conflicts; the right one takes the comment along.
    assert_eq!(
        store
            .delete_record(&a, Kind::Note, &a_note.id, Some(1))
            .await
            .expect("delete"),
        WriteOutcome::Conflict { current: 2 }
    );
    assert_eq!(
        store
            .delete_record(&a, Kind::Note, &a_note.id, Some(2))
            .await
            .expect("delete"),
        WriteOutcome::Done(1)
    );
    assert_eq!(
        store
            .find_record(&a, Kind::Comment, &a_comment.id)
            .await
            .expect("find"),
        None,
        "the comment went with its note"
    );
    // b's record of the same slug is untouched.
    assert_eq!(
        store
            .find_record(&b, Kind::Note, "release-checklist")
            .await
            .expect("find")
            .map(|r| r.id),
        Some(b_note.id.clone())
    );
    store.close().await;
}

#[tokio::test]
async fn concurrent_inserts_of_one_title_get_distinct_slugs() {
    let Some((store, _db)) = migrated_store().await else {
        return;
    };
    let a = tenant("a");
    let inserts = (0..6).map(|_| {
        let store = Arc::clone(&store);
        let a = a.clone();
        async move { store.insert_record(&a, &note(&a, "Standup", "", &[])).await }
    });
    let mut slugs: Vec<String> = futures::future::join_all(inserts)
        .await
        .into_iter()
        .map(|r| r.expect("insert").slug.expect("slug"))
        .collect();
    slugs.sort();
    assert_eq!(
        slugs,
        [
            "standup",
            "standup-2",
            "standup-3",
            "standup-4",
            "standup-5",
            "standup-6"
        ]
    );
    store.close().await;
}
