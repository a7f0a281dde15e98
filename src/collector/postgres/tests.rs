//! Against a real PostgreSQL: `WARD_TEST_POSTGRES` is the URL of a
//! database the tests may create schemas (and, for one test, a role) in,
//! e.g. `postgres://ward:ward@127.0.0.1/ward_test` with `ward` a superuser
//! of a throwaway cluster (`.ci/run` makes one). Unset, each test prints
//! a skip line and passes, unless `WARD_REQUIRE_POSTGRES=1`. Each test
//! works in a schema of its own (`search_path` in the URL's `options`),
//! dropped afterwards, so they run in parallel.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use std::str::FromStr;

use crate::collector::conformance;
use postgres::config::Host;

use super::schema::{Durability, MIGRATIONS, durability};

/// The schema version of this build.
const VERSION: i64 = MIGRATIONS.len() as i64;

/// The test database's URL; `None` (after saying so) to skip.
fn test_url() -> Option<String> {
    match std::env::var("WARD_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("WARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "WARD_REQUIRE_POSTGRES=1 but WARD_TEST_POSTGRES is not set"
            );
            eprintln!(
                "skipped: set WARD_TEST_POSTGRES=postgres://USER:PASS@HOST/DB to run the PostgreSQL tests"
            );
            None
        }
    }
}

fn admin(url: &str) -> Client {
    postgres::Client::connect(url, NoTls).expect("connect to WARD_TEST_POSTGRES")
}

/// A unique lower-case name.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with `options=-c search_path=SCHEMA` (and `extra` options).
fn in_schema(url: &str, schema: &str, extra: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}{extra}")
}

/// A schema, dropped (with everything in it, and its role if any) on drop.
struct Schema {
    admin_url: String,
    name: String,
    role: Option<String>,
}

impl Schema {
    fn new(admin_url: &str) -> Self {
        let name = unique("ward_t");
        admin(admin_url)
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Self {
            admin_url: admin_url.to_owned(),
            name,
            role: None,
        }
    }

    fn url(&self) -> String {
        in_schema(&self.admin_url, &self.name, "")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let mut c = admin(&self.admin_url);
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        if let Some(role) = &self.role {
            let _ = c.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1",
                &[role],
            );
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}

/// A fresh store in a schema of its own, or `None` to skip.
fn fresh() -> Option<(PostgresStore, Schema)> {
    let url = test_url()?;
    let schema = Schema::new(&url);
    let store = PostgresStore::open(&schema.url()).unwrap();
    Some((store, schema))
}

conformance::storage_conformance!(fresh);

fn tables(url: &str, schema: &str) -> Vec<String> {
    admin(url)
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn reopening_keeps_reports_and_runs_no_migration_twice() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url);
    let r = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    {
        let s = PostgresStore::open(&schema.url()).unwrap();
        assert_eq!(s.schema_version().unwrap(), VERSION);
        s.insert_report(&r).unwrap();
    }
    let s = PostgresStore::open(&schema.url()).unwrap();
    assert_eq!(s.schema_version().unwrap(), VERSION);
    assert_eq!(s.report_count().unwrap(), 1);
    assert_eq!(s.insert_report(&r).unwrap(), Inserted::Duplicate);
    let applied: i64 = admin(&url)
        .query_one(
            &format!("SELECT COUNT(*) FROM {}.ward_schema", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied, VERSION, "one row per applied migration, once");
    assert_eq!(
        tables(&url, &schema.name),
        ["activations", "nodes", "probes", "reports", "ward_schema"]
    );
}

#[test]
fn collectors_starting_at_once_migrate_once() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url);
    let target = schema.url();
    let opened: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| PostgresStore::open(&target).map(|st| st.schema_version())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in opened {
        assert_eq!(o.unwrap().unwrap(), VERSION);
    }
    let applied: i64 = admin(&url)
        .query_one(
            &format!("SELECT COUNT(*) FROM {}.ward_schema", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied, VERSION);
}

#[test]
fn a_database_from_a_newer_ward_is_refused() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url);
    admin(&url)
        .batch_execute(&format!(
            "CREATE TABLE {s}.ward_schema (version BIGINT PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO {s}.ward_schema (version) VALUES (1), (99);",
            s = schema.name
        ))
        .unwrap();
    let err = PostgresStore::open(&schema.url()).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SchemaTooNew {
                found: 99,
                known: VERSION
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer than this ward knows"),
        "{err}"
    );
    assert_eq!(
        tables(&url, &schema.name),
        ["ward_schema"],
        "nothing written"
    );
}

#[test]
fn the_password_never_appears_in_errors_or_debug() {
    // Pure: the URL forms.
    assert_eq!(
        redact("postgres://ward:s3cr%40t@db.example:5433/ward?sslmode=disable"),
        "postgres://ward:***@db.example:5433/ward?sslmode=disable"
    );
    assert_eq!(
        redact("postgresql://ward@db/ward?password=s3cr3t&application_name=x"),
        "postgresql://ward@db/ward?password=***&application_name=x"
    );
    assert_eq!(
        redact("postgres://ward:pw@db"),
        "postgres://ward:***@db",
        "no path"
    );
    let secret = "Never-Print-Me-7";
    for bad in [
        format!("postgres://ward:{secret}@db/ward?sslmode=prefer"),
        format!("postgres://ward:{secret}@db/ward?sslmode=verify-full"),
        format!("postgres://ward:{secret}@db:notaport/ward"),
        format!("postgres://ward@db/ward?password={secret}&sslmode=bogus"),
    ] {
        let err = check_url(&bad).unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
        let err = PostgresStore::open(&bad).unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(err.starts_with("PostgreSQL URL postgres"), "{err}");
    }

    // Real: a wrong password, and a closed port.
    let Some(url) = test_url() else { return };
    let user = postgres::Config::from_str(&url).unwrap();
    let host = match user.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = user.get_ports().first().copied().unwrap_or(5432);
    let db = user.get_dbname().unwrap_or("postgres");
    let name = user.get_user().unwrap_or("postgres");
    let wrong = format!("postgres://{name}:{secret}@{host}:{port}/{db}");
    let err = PostgresStore::open(&wrong).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StorageError::PostgresConnect { .. }),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains(":***@"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    let closed = format!("postgres://{name}:{secret}@127.0.0.1:1/{db}?connect_timeout=2");
    let text = PostgresStore::open(&closed).unwrap_err().to_string();
    assert!(!text.contains(secret), "{text}");
    assert!(
        text.starts_with("cannot connect to PostgreSQL at postgres://"),
        "{text}"
    );

    // Debug (the config and the store) shows no password either.
    let (store, _schema) = fresh().unwrap();
    let shown = format!("{store:?}");
    if let Some(pw) = user.get_password() {
        let pw = String::from_utf8_lossy(pw);
        assert!(!shown.contains(&format!(":{pw}@")), "{shown}");
    }
    assert!(
        shown.contains("***") || user.get_password().is_none(),
        "{shown}"
    );
    let settings = crate::config::collector::StorageSettings::Postgres(Box::new(
        crate::config::collector::PostgresUrl::parse(&wrong).unwrap(),
    ));
    let shown = format!("{settings:?}");
    assert!(!shown.contains(secret), "{shown}");
}

#[test]
fn a_connection_the_server_terminated_is_replaced() {
    let Some((store, _schema)) = fresh() else {
        return;
    };
    let url = test_url().unwrap();
    let first = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    store.insert_report(&first).unwrap();
    assert_eq!(store.nodes().unwrap().len(), 1); // opens the reader
    let (Some(w), Some(r)) = store.backend_pids() else {
        panic!("both connections are open");
    };
    assert_ne!(w, r, "reads and writes use separate connections");
    let mut a = admin(&url);
    for pid in [w, r] {
        let done: bool = a
            .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
            .unwrap()
            .get(0);
        assert!(done, "backend {pid} terminated");
    }
    // Both calls find their connection dead, reconnect and succeed.
    let second = conformance::report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 2);
    assert_eq!(
        store.insert_report(&second).unwrap(),
        Inserted::Stored { flags: vec![] }
    );
    assert_eq!(store.nodes().unwrap()[0].list_serial, Some(2));
    assert_eq!(store.report_count().unwrap(), 2);
    let (Some(w2), Some(r2)) = store.backend_pids() else {
        panic!("both connections are open again");
    };
    assert!(w2 != w && r2 != r, "new backends: {w}→{w2}, {r}→{r2}");
}

#[test]
fn a_failed_reconnect_is_an_error_and_the_next_call_reconnects() {
    let Some(url) = test_url() else { return };
    // A role of its own, so that refusing its logins touches no other test.
    let mut schema = Schema::new(&url);
    let role = unique("ward_r");
    let secret = "Rec0nnect-Secret-9";
    let mut a = admin(&url);
    a.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{secret}';
         ALTER SCHEMA {s} OWNER TO {role};",
        s = schema.name
    ))
    .unwrap();
    schema.role = Some(role.clone());
    let base = postgres::Config::from_str(&url).unwrap();
    let host = match base.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = base.get_ports().first().copied().unwrap_or(5432);
    let db = base.get_dbname().unwrap_or("postgres");
    let role_url = in_schema(
        &format!("postgres://{role}:{secret}@{host}:{port}/{db}"),
        &schema.name,
        "",
    );
    let store = PostgresStore::open(&role_url).unwrap();
    let r1 = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    store.insert_report(&r1).unwrap();

    // The server drops the connection and refuses the role's logins.
    a.batch_execute(&format!("ALTER ROLE {role} NOLOGIN"))
        .unwrap();
    a.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1",
        &[&role],
    )
    .unwrap();
    let r2 = conformance::report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 1);
    let err = store.insert_report(&r2).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StorageError::PostgresConnect { .. }),
        "{text}"
    );
    assert!(text.contains("not permitted to log in"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(store.report_count().is_err(), "reads fail too");

    // Back: the next calls reconnect, nothing was lost or half-stored.
    a.batch_execute(&format!("ALTER ROLE {role} LOGIN"))
        .unwrap();
    assert_eq!(
        store.insert_report(&r2).unwrap(),
        Inserted::Stored { flags: vec![] }
    );
    assert_eq!(store.report_count().unwrap(), 2);
    assert_eq!(store.nodes().unwrap()[0].reports, 2);
}

#[test]
fn commits_are_synchronous_even_when_the_session_default_is_off() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url);
    let target = in_schema(&url, &schema.name, "%20-c%20synchronous_commit%3Doff");
    let store = PostgresStore::open(&target).unwrap();
    let setting = |role| -> String {
        store.slot(role).as_mut().map_or_else(String::new, |c| {
            c.client
                .query_one("SHOW synchronous_commit", &[])
                .unwrap()
                .get(0)
        })
    };
    assert_eq!(setting(Role::Writer), "on");
    store.report_count().unwrap();
    assert_eq!(setting(Role::Reader), "on");
    // Proof the option did reach the server: a plain connection has it off.
    let mut plain = admin(&target);
    let raw: String = plain
        .query_one("SHOW synchronous_commit", &[])
        .unwrap()
        .get(0);
    assert_eq!(raw, "off");
}

#[test]
fn durability_decisions() {
    assert_eq!(durability("on", "on"), Durability::Fine);
    assert_eq!(durability("on", "local"), Durability::Fine);
    assert_eq!(durability("on", "remote_apply"), Durability::Fine);
    assert_eq!(durability("on", "off"), Durability::Override);
    assert!(matches!(durability("off", "on"), Durability::Refuse(r) if r.contains("fsync = off")));
}

#[test]
fn url_options_are_checked_before_connecting() {
    assert!(check_url("postgres://u:p@127.0.0.1/db").is_ok());
    assert!(check_url("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db").is_ok());
    let err = check_url("postgres://u@db/x?sslmode=require")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sslrootcert"), "{err}");
    let err = check_url("postgres://u@db/x?sslmode=prefer")
        .unwrap_err()
        .to_string();
    assert!(err.contains("falls back to plain text"), "{err}");
    let err = check_url("postgres://u@db/x?sslrootcert=/x.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sslmode=verify-full"), "{err}");
    let err = check_url("postgres://u@db/x?sslmode=verify-full&sslrootcert=/nonexistent.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent.pem"), "{err}");
    let err = check_url("postgres://u@%2Ftmp/x?sslmode=require&sslrootcert=system")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Unix socket"), "{err}");
    let t = Target::parse("postgres://u@db.example/x").unwrap();
    assert!(t.exposed && t.tls.is_none());
    assert!(!Target::parse("postgres://u@127.0.0.1/x").unwrap().exposed);
    assert!(!Target::parse("postgres://u@[::1]/x").unwrap().exposed);
    assert!(!Target::parse("postgres://u@localhost/x").unwrap().exposed);
}

/// TLS with verification, against the test server's own certificate (the
/// Debian cluster's snakeoil one, self-signed): accepted under its own
/// name, refused when the CA is another. Skipped when the server has
/// `ssl = off`.
#[test]
fn tls_is_verified() {
    let Some(url) = test_url() else { return };
    let mut a = admin(&url);
    let ssl: String = a.query_one("SHOW ssl", &[]).unwrap().get(0);
    if ssl != "on" {
        eprintln!("skipped: the test server has ssl = off");
        return;
    }
    let cert: String = a
        .query_one("SELECT current_setting('ssl_cert_file')", &[])
        .unwrap()
        .get(0);
    let pem = std::fs::read_to_string(&cert).unwrap();
    // Its first DNS name: what the client must check it against.
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", &cert])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text
        .split(['\n', ',', ' '])
        .find_map(|p| p.trim().strip_prefix("DNS:"))
        .expect("the server certificate has a DNS name")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("server-ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let base = postgres::Config::from_str(&url).unwrap();
    let port = base.get_ports().first().copied().unwrap_or(5432);
    let db = base.get_dbname().unwrap_or("postgres");
    let user = base.get_user().unwrap_or("postgres");
    let pw = base
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let schema = Schema::new(&url);
    let tls_url = |root: &std::path::Path| {
        in_schema(
            &format!(
                "postgres://{user}{pw}@{name}:{port}/{db}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
                root.display()
            ),
            &schema.name,
            "",
        )
    };
    let store = PostgresStore::open(&tls_url(&ca)).unwrap();
    let r = conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    store.insert_report(&r).unwrap();
    let encrypted: bool = store
        .slot(Role::Writer)
        .as_mut()
        .unwrap()
        .client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(encrypted);

    let other = rcgen::generate_simple_self_signed(vec![name.clone()]).unwrap();
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other.cert.pem()).unwrap();
    let err = PostgresStore::open(&tls_url(&wrong))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid peer certificate"), "{err}");
}
