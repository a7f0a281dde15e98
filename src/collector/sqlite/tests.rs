use super::*;
use crate::collector::conformance;

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("c.db")).unwrap()
}

/// The schema version this build migrates to.
fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap()
}

/// A fresh store, and its temporary directory.
fn fresh() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (open(&dir), dir)
}

conformance::storage_conformance!(fresh);

#[test]
fn reopening_keeps_reports_and_runs_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    let r = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    {
        let s = open(&dir);
        assert_eq!(s.schema_version().unwrap(), latest());
        s.insert_report(&r).unwrap();
    }
    let s = open(&dir);
    assert_eq!(s.schema_version().unwrap(), latest());
    assert_eq!(s.report_count().unwrap(), 1);
    assert_eq!(s.insert_report(&r).unwrap(), Inserted::Duplicate);
}

#[test]
fn the_database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let mode: String = s
        .lock()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .lock()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL");
}

#[test]
fn a_database_from_a_newer_ward_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SchemaTooNew {
                found: 99,
                known
            } if known == latest()
        ),
        "{err}"
    );
}

#[test]
fn an_unopenable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A missing directory is created...
    let nested = dir.path().join("new/dir/c.db");
    SqliteStore::open(&nested).unwrap();
    assert!(nested.exists());
    // ... but not under a regular file.
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let err = SqliteStore::open(&dir.path().join("file/c.db")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot create the database's directory"),
        "{err}"
    );
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot open the database"),
        "{err}"
    );
}

#[test]
fn a_version_1_database_is_migrated_and_its_per_category_rows_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), latest());
    let tables: i64 = s
        .lock()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'blocked'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    let r = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    s.insert_report(&r).unwrap();
    let w = s
        .windows(&crate::collector::store::WindowQuery {
            isp_id: None,
            node_id: None,
            from: "2026-11-29T00:00:00Z".parse().unwrap(),
            to: "2026-11-30T00:00:00Z".parse().unwrap(),
        })
        .unwrap();
    assert_eq!(w[0].blocked.len(), 3, "counts come from the body");
}
