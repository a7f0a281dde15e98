//! The PostgreSQL schema, as versioned migrations run under an advisory
//! lock, and the durability settings checked at every connect.

use postgres::Client;

use super::error_text;
use crate::collector::store::StorageError;

/// The schema, one migration per version; version N is `MIGRATIONS[N-1]`.
/// Append only: a released migration is never edited. The same tables as
/// SQLite's schema 4, in PostgreSQL's types; names sort by byte (`COLLATE "C"`),
/// as in SQLite, whatever the database's locale.
pub const MIGRATIONS: &[&str] = &[
    // 1: reports, their per-category counts and activations, and the latest
    // state per node.
    r#"
    CREATE TABLE reports (
        report_id        TEXT COLLATE "C" PRIMARY KEY,
        isp_id           TEXT COLLATE "C" NOT NULL,
        node_id          TEXT COLLATE "C" NOT NULL,
        window_start_ms  BIGINT NOT NULL,
        window_end_ms    BIGINT NOT NULL,
        received_at_ms   BIGINT NOT NULL,
        node_started_ms  BIGINT NOT NULL,
        ward_version     TEXT NOT NULL,
        config_digest    TEXT NOT NULL,
        min_count        BIGINT NOT NULL,
        list_id          TEXT COLLATE "C",
        list_serial      BIGINT,
        list_sha256      TEXT,
        list_issued_ms   BIGINT,
        list_expires_ms  BIGINT,
        activated_at_ms  BIGINT,
        list_stale       BOOLEAN NOT NULL,
        queries_total    BIGINT NOT NULL,
        malformed        BIGINT NOT NULL,
        flags            TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        signature        TEXT NOT NULL,
        body             BYTEA NOT NULL
    );
    CREATE INDEX reports_by_node ON reports (isp_id, node_id, window_start_ms);
    CREATE INDEX reports_by_received ON reports (received_at_ms);

    -- No per-category rows: the counts are in the stored body (the
    -- signed bytes), which `windows` parses, as SQLite does since its
    -- schema 2.

    CREATE TABLE activations (
        report_id        TEXT COLLATE "C" NOT NULL REFERENCES reports (report_id),
        seq              BIGINT NOT NULL,
        list_id          TEXT COLLATE "C" NOT NULL,
        serial           BIGINT NOT NULL,
        sha256           TEXT NOT NULL,
        issued_at_ms     BIGINT NOT NULL,
        activated_at_ms  BIGINT NOT NULL,
        lag_seconds      DOUBLE PRECISION NOT NULL,
        at_startup       BOOLEAN NOT NULL,
        PRIMARY KEY (report_id, seq)
    );
    CREATE INDEX activations_by_serial ON activations (list_id, serial);

    -- The node's latest window (by window end), kept in the insert's
    -- transaction so the overview needs no scan of reports.
    CREATE TABLE nodes (
        isp_id             TEXT COLLATE "C" NOT NULL,
        node_id            TEXT COLLATE "C" NOT NULL,
        last_report_id     TEXT COLLATE "C" NOT NULL,
        last_received_ms   BIGINT NOT NULL,
        last_window_end_ms BIGINT NOT NULL,
        reports            BIGINT NOT NULL,
        flagged            BIGINT NOT NULL,
        PRIMARY KEY (isp_id, node_id)
    );

    -- Probe results (`ward probe --report-to`), body and signature kept;
    -- SQLite's schema 3.
    CREATE TABLE probes (
        probe_id        TEXT COLLATE "C" PRIMARY KEY,
        prober_id       TEXT COLLATE "C" NOT NULL,
        isp_id          TEXT COLLATE "C" NOT NULL,
        node_id         TEXT COLLATE "C",
        resolver        TEXT NOT NULL,
        probed_at_ms    BIGINT NOT NULL,
        received_at_ms  BIGINT NOT NULL,
        list_id         TEXT COLLATE "C" NOT NULL,
        list_serial     BIGINT NOT NULL,
        serial_seen     BIGINT,
        compliant       BOOLEAN,
        reasons         TEXT NOT NULL,
        dns_probed      BIGINT NOT NULL,
        dns_blocked     BIGINT NOT NULL,
        dns_failed      BIGINT NOT NULL,
        sni_probed      BIGINT,
        sni_blocked     BIGINT,
        sni_failed      BIGINT,
        key_id          TEXT NOT NULL,
        signature       TEXT NOT NULL,
        body            BYTEA NOT NULL
    );
    CREATE INDEX probes_by_time ON probes (probed_at_ms);
    CREATE INDEX probes_by_isp ON probes (isp_id, probed_at_ms);
    "#,
    // 2: what kind of node sent each report (`isp`, `school`); SQLite's
    // schema 4.
    r#"
    ALTER TABLE reports ADD COLUMN kind TEXT NOT NULL DEFAULT 'isp';
    "#,
];

/// The `pg_advisory_xact_lock` key migrations run under ("wardschm").
const MIGRATION_LOCK: i64 = 0x7761_7264_7363_686d;

/// The durability check at each connect: `fsync = off` is refused;
/// `synchronous_commit = off` is turned on for this session, loudly.
pub(super) fn check_durability(client: &mut Client, shown: &str) -> Result<(), StorageError> {
    let setting = |client: &mut Client, name: &str| -> Result<String, StorageError> {
        Ok(client
            .query_one("SELECT current_setting($1)", &[&name])?
            .try_get(0)?)
    };
    let fsync = setting(client, "fsync")?;
    let sync_commit = setting(client, "synchronous_commit")?;
    match durability(&fsync, &sync_commit) {
        Durability::Refuse(reason) => Err(StorageError::PostgresNotDurable {
            url: shown.to_owned(),
            reason,
        }),
        Durability::Override => {
            tracing::warn!(
                url = %shown,
                "PostgreSQL has synchronous_commit = off (server, database or role default): an acknowledged report could be lost in a crash; ward sets it to on for its own sessions. Fix the default."
            );
            client.batch_execute("SET synchronous_commit = on")?;
            Ok(())
        }
        Durability::Fine => Ok(()),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Durability {
    Fine,
    /// Set `synchronous_commit = on` for the session.
    Override,
    Refuse(String),
}

/// What to do about the server's `fsync` and `synchronous_commit`.
pub(super) fn durability(fsync: &str, synchronous_commit: &str) -> Durability {
    if fsync.eq_ignore_ascii_case("off") {
        return Durability::Refuse(
            "the server runs with fsync = off: a crash can lose or corrupt committed reports, which ward acknowledges as kept; set fsync = on".into(),
        );
    }
    if synchronous_commit.eq_ignore_ascii_case("off") {
        return Durability::Override;
    }
    Durability::Fine
}

/// Runs every migration newer than the database's, in one transaction
/// under an advisory lock.
pub(super) fn migrate(client: &mut Client) -> Result<(), StorageError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ward_schema (
            version    BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let found: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM ward_schema", &[])?
        .try_get(0)?;
    if found > known {
        return Err(StorageError::SchemaTooNew { found, known });
    }
    let mut applied = Vec::new();
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let migration_err = |e: postgres::Error| StorageError::PostgresMigration {
            version,
            error: error_text(&e),
        };
        tx.batch_execute(sql).map_err(migration_err)?;
        tx.execute("INSERT INTO ward_schema (version) VALUES ($1)", &[&version])
            .map_err(migration_err)?;
        applied.push(version);
    }
    tx.commit()?;
    for version in applied {
        tracing::info!(version, "collector database migrated");
    }
    Ok(())
}
