//! [`Storage`] on SQLite: the embedded default, zero setup.
//!
//! * **WAL mode, `synchronous = FULL`**: a commit is on disk (the WAL
//!   fsynced) before [`Storage::insert_report`] returns, so the 2xx the
//!   server then sends never covers a report a power cut could lose.
//!   Readers (the dashboard) do not block the writer.
//! * **Versioned migrations** ([`MIGRATIONS`]), run at open, each in its
//!   own transaction with `PRAGMA user_version` bumped inside it; a
//!   database newer than this build is refused, never written.
//! * One connection behind a mutex: SQLite has one writer at a time
//!   anyway. Each insert is one `BEGIN IMMEDIATE` transaction.
//!
//! Times are stored as unix milliseconds (`*_ms` columns).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::store::{
    Accepted, AcceptedProbe, ActivationRow, Inserted, NodeRow, NodeUpdate, ProbeCounts, ProbeQuery,
    ProbeRow, ReportRow, SchoolRow, Storage, StorageError, StoredReport, WindowFlag, WindowQuery,
    WindowRow, blocked_cells, from_ms, ms, parse_body, parse_flags, profile_cells, to_i64, to_u64,
    window_flags,
};

/// How long a statement waits for another connection's lock (the tests
/// and `ward` tools may open the same file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one migration per version; version N is `MIGRATIONS[N-1]`.
/// Append only: a released migration is never edited.
pub const MIGRATIONS: &[&str] = &[
    // 1: reports, their per-category counts and activations, and the latest
    // state per node.
    r#"
    CREATE TABLE reports (
        report_id        TEXT PRIMARY KEY,
        isp_id           TEXT NOT NULL,
        node_id          TEXT NOT NULL,
        window_start_ms  INTEGER NOT NULL,
        window_end_ms    INTEGER NOT NULL,
        received_at_ms   INTEGER NOT NULL,
        node_started_ms  INTEGER NOT NULL,
        ward_version     TEXT NOT NULL,
        config_digest    TEXT NOT NULL,
        min_count        INTEGER NOT NULL,
        list_id          TEXT,
        list_serial      INTEGER,
        list_sha256      TEXT,
        list_issued_ms   INTEGER,
        list_expires_ms  INTEGER,
        activated_at_ms  INTEGER,
        list_stale       INTEGER NOT NULL,
        queries_total    INTEGER NOT NULL,
        malformed        INTEGER NOT NULL,
        flags            TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        signature        TEXT NOT NULL,
        body             BLOB NOT NULL
    ) STRICT;
    CREATE INDEX reports_by_node ON reports (isp_id, node_id, window_start_ms);
    CREATE INDEX reports_by_received ON reports (received_at_ms);

    -- One row per category and channel; exactly one of count and below.
    CREATE TABLE blocked (
        report_id  TEXT NOT NULL REFERENCES reports (report_id),
        category   TEXT NOT NULL,
        channel    TEXT NOT NULL,
        count      INTEGER,
        below      INTEGER,
        PRIMARY KEY (report_id, category, channel)
    ) STRICT;

    CREATE TABLE activations (
        report_id        TEXT NOT NULL REFERENCES reports (report_id),
        seq              INTEGER NOT NULL,
        list_id          TEXT NOT NULL,
        serial           INTEGER NOT NULL,
        sha256           TEXT NOT NULL,
        issued_at_ms     INTEGER NOT NULL,
        activated_at_ms  INTEGER NOT NULL,
        lag_seconds      REAL NOT NULL,
        at_startup       INTEGER NOT NULL,
        PRIMARY KEY (report_id, seq)
    ) STRICT;
    CREATE INDEX activations_by_serial ON activations (list_id, serial);

    -- The node's latest window (by window end), kept in the insert's
    -- transaction so the overview needs no scan of reports.
    CREATE TABLE nodes (
        isp_id            TEXT NOT NULL,
        node_id           TEXT NOT NULL,
        last_report_id    TEXT NOT NULL,
        last_received_ms  INTEGER NOT NULL,
        last_window_end_ms INTEGER NOT NULL,
        reports           INTEGER NOT NULL,
        flagged           INTEGER NOT NULL,
        PRIMARY KEY (isp_id, node_id)
    ) STRICT;
    "#,
    // 2: no per-category rows. At 30 categories a report wrote 90 rows
    // of ~120 bytes with their index, some 11 KiB: 70 % of the database.
    // The counts are in the stored body (the signed bytes), which
    // `windows` parses instead.
    r#"
    DROP TABLE blocked;
    "#,
    // 3: probe results (`ward probe --report-to`), body and signature kept.
    r#"
    CREATE TABLE probes (
        probe_id        TEXT PRIMARY KEY,
        prober_id       TEXT NOT NULL,
        isp_id          TEXT NOT NULL,
        node_id         TEXT,
        resolver        TEXT NOT NULL,
        probed_at_ms    INTEGER NOT NULL,
        received_at_ms  INTEGER NOT NULL,
        list_id         TEXT NOT NULL,
        list_serial     INTEGER NOT NULL,
        serial_seen     INTEGER,
        compliant       INTEGER,
        reasons         TEXT NOT NULL,
        dns_probed      INTEGER NOT NULL,
        dns_blocked     INTEGER NOT NULL,
        dns_failed      INTEGER NOT NULL,
        sni_probed      INTEGER,
        sni_blocked     INTEGER,
        sni_failed      INTEGER,
        key_id          TEXT NOT NULL,
        signature       TEXT NOT NULL,
        body            BLOB NOT NULL
    ) STRICT;
    CREATE INDEX probes_by_time ON probes (probed_at_ms);
    CREATE INDEX probes_by_isp ON probes (isp_id, probed_at_ms);
    "#,
    // 4: what kind of node sent each report (`isp`, `school`), so the
    // schools view finds school nodes without parsing ISP bodies. The
    // school section itself stays in the body, like every count.
    r#"
    ALTER TABLE reports ADD COLUMN kind TEXT NOT NULL DEFAULT 'isp';
    "#,
];

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at
    /// `path`, switches it to WAL and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| StorageError::CreateDir {
                path: parent.display().to_string(),
                error,
            })?;
        }
        let open_err = |error| StorageError::Open {
            path: path.display().to_string(),
            error,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Corrupt(format!(
                "{}: SQLite refused WAL mode (got {mode:?}); is it on a network file system?",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held dropped its transaction, which
        // rolled back: the connection is consistent.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs every migration newer than the database's `user_version`.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StorageError::SchemaTooNew { found, known });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        step(conn).map_err(|error| StorageError::Migration { version, error })?;
        tracing::info!(version, "collector database migrated");
    }
    Ok(())
}

/// Inserts one report inside `tx` (no commit).
fn insert_one(tx: &Transaction<'_>, a: &Accepted) -> Result<Inserted, StorageError> {
    let r = &a.report;
    let known: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM reports WHERE report_id = ?1",
            [&r.report_id],
            |row| row.get(0),
        )
        .optional()?;
    if known.is_some() {
        return Ok(Inserted::Duplicate);
    }
    let flags = check_window(tx, r)?;
    insert_report(tx, &ReportRow::of(a, &flags)?)?;
    insert_activations(tx, &r.report_id, &ActivationRow::all(r)?)?;
    upsert_node(tx, &NodeUpdate::of(a, &flags))?;
    Ok(Inserted::Stored { flags })
}

/// The report's window against the node's stored windows (the overlap
/// rule is [`window_flags`]).
fn check_window(
    tx: &Transaction<'_>,
    r: &crate::report::body::Report,
) -> Result<Vec<WindowFlag>, StorageError> {
    let (start, end) = (ms(r.window_start), ms(r.window_end));
    let overlapping: Option<String> = tx
        .query_row(
            "SELECT report_id FROM reports
             WHERE isp_id = ?1 AND node_id = ?2
               AND window_start_ms < ?4 AND window_end_ms > ?3
             LIMIT 1",
            params![r.isp_id, r.node_id, start, end],
            |row| row.get(0),
        )
        .optional()?;
    let latest_end: Option<i64> = tx
        .query_row(
            "SELECT last_window_end_ms FROM nodes WHERE isp_id = ?1 AND node_id = ?2",
            params![r.isp_id, r.node_id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(window_flags(start, end, overlapping.is_some(), latest_end))
}

fn insert_report(tx: &Transaction<'_>, row: &ReportRow<'_>) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO reports (
            report_id, isp_id, node_id, window_start_ms, window_end_ms,
            received_at_ms, node_started_ms, ward_version, config_digest,
            min_count, list_id, list_serial, list_sha256, list_issued_ms,
            list_expires_ms, activated_at_ms, list_stale, queries_total,
            malformed, flags, key_id, signature, body, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                 ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        params![
            row.report_id,
            row.isp_id,
            row.node_id,
            row.window_start_ms,
            row.window_end_ms,
            row.received_at_ms,
            row.node_started_ms,
            row.ward_version,
            row.config_digest,
            row.min_count,
            row.list_id,
            row.list_serial,
            row.list_sha256,
            row.list_issued_ms,
            row.list_expires_ms,
            row.activated_at_ms,
            row.list_stale,
            row.queries_total,
            row.malformed,
            row.flags,
            row.key_id,
            row.signature,
            row.body,
            row.kind,
        ],
    )?;
    Ok(())
}

fn insert_activations(
    tx: &Transaction<'_>,
    report_id: &str,
    rows: &[ActivationRow<'_>],
) -> Result<(), StorageError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO activations (report_id, seq, list_id, serial, sha256,
            issued_at_ms, activated_at_ms, lag_seconds, at_startup)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        stmt.execute(params![
            report_id,
            row.seq,
            row.list_id,
            row.serial,
            row.sha256,
            row.issued_at_ms,
            row.activated_at_ms,
            row.lag_seconds,
            row.at_startup,
        ])?;
    }
    Ok(())
}

fn upsert_node(tx: &Transaction<'_>, node: &NodeUpdate<'_>) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO nodes (isp_id, node_id, last_report_id, last_received_ms,
            last_window_end_ms, reports, flagged)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)
         ON CONFLICT (isp_id, node_id) DO UPDATE SET
            reports = reports + 1,
            flagged = flagged + excluded.flagged,
            last_report_id = CASE WHEN excluded.last_window_end_ms >= last_window_end_ms
                THEN excluded.last_report_id ELSE last_report_id END,
            last_received_ms = CASE WHEN excluded.last_window_end_ms >= last_window_end_ms
                THEN excluded.last_received_ms ELSE last_received_ms END,
            last_window_end_ms = MAX(last_window_end_ms, excluded.last_window_end_ms)",
        params![
            node.isp_id,
            node.node_id,
            node.report_id,
            node.received_at_ms,
            node.window_end_ms,
            node.flagged
        ],
    )?;
    Ok(())
}

impl Storage for SqliteStore {
    fn insert_reports(&self, reports: &[Accepted]) -> Result<Vec<Inserted>, StorageError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = reports
            .iter()
            .map(|a| insert_one(&tx, a))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(out)
    }

    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT n.isp_id, n.node_id, n.last_received_ms, n.last_window_end_ms,
                    r.list_id, r.list_serial, r.activated_at_ms, r.list_stale,
                    n.reports, n.flagged
             FROM nodes n JOIN reports r ON r.report_id = n.last_report_id
             ORDER BY n.isp_id, n.node_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, bool>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, i64>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (isp_id, node_id, received, end, list_id, serial, activated, stale, n, flagged) =
                row?;
            let count = |v: i64| to_u64(v, "count");
            out.push(NodeRow {
                isp_id,
                node_id,
                last_report_at: from_ms(received)?,
                last_window_end: from_ms(end)?,
                list_id,
                list_serial: serial.map(count).transpose()?,
                activated_at: activated.map(from_ms).transpose()?,
                list_stale: stale,
                reports: count(n)?,
                flagged: count(flagged)?,
            });
        }
        Ok(out)
    }

    fn report_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))?;
        to_u64(n, "count")
    }

    fn activation_lags(&self) -> Result<Vec<super::lag::LagRow>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT r.isp_id, r.node_id, a.list_id, a.serial, a.lag_seconds
             FROM activations a JOIN reports r ON r.report_id = a.report_id
             WHERE a.activated_at_ms = (
                SELECT MIN(b.activated_at_ms) FROM activations b
                JOIN reports q ON q.report_id = b.report_id
                WHERE q.isp_id = r.isp_id AND q.node_id = r.node_id
                  AND b.list_id = a.list_id AND b.serial = a.serial)
             GROUP BY r.isp_id, r.node_id, a.list_id, a.serial
             ORDER BY a.list_id, a.serial, r.isp_id, r.node_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, f64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (isp_id, node_id, list_id, serial, lag_seconds) = row?;
            out.push(super::lag::LagRow {
                isp_id,
                node_id,
                list_id,
                serial: to_u64(serial, "serial")?,
                lag_seconds,
            });
        }
        Ok(out)
    }

    fn windows(&self, query: &WindowQuery) -> Result<Vec<WindowRow>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT report_id, isp_id, node_id, window_start_ms, window_end_ms,
                    received_at_ms, list_id, list_serial, list_stale,
                    queries_total, malformed, flags, body
             FROM reports
             WHERE (?1 IS NULL OR isp_id = ?1) AND (?2 IS NULL OR node_id = ?2)
               AND window_start_ms < ?4 AND window_end_ms > ?3
             ORDER BY isp_id, node_id, window_start_ms, report_id",
        )?;
        let mut rows = stmt.query(params![
            query.isp_id,
            query.node_id,
            ms(query.from),
            ms(query.to)
        ])?;
        let mut out: Vec<WindowRow> = Vec::new();
        while let Some(row) = rows.next()? {
            let report_id: String = row.get(0)?;
            // The counts come from the body as signed (it was parsed
            // and checked at ingest, so a failure here is corruption).
            let body: Vec<u8> = row.get(12)?;
            let report = parse_body(&report_id, &body)?;
            out.push(WindowRow {
                isp_id: row.get(1)?,
                node_id: row.get(2)?,
                window_start: from_ms(row.get(3)?)?,
                window_end: from_ms(row.get(4)?)?,
                received_at: from_ms(row.get(5)?)?,
                list_id: row.get(6)?,
                list_serial: row
                    .get::<_, Option<i64>>(7)?
                    .map(|v| to_u64(v, "serial"))
                    .transpose()?,
                list_stale: row.get(8)?,
                queries_total: to_u64(row.get(9)?, "queries_total")?,
                malformed_packets: to_u64(row.get(10)?, "malformed")?,
                flags: parse_flags(&row.get::<_, String>(11)?),
                blocked: blocked_cells(&report),
                profiles: profile_cells(&report),
                report_id,
            });
        }
        Ok(out)
    }

    fn report(&self, report_id: &str) -> Result<Option<StoredReport>, StorageError> {
        let row: Option<(Vec<u8>, String)> = self
            .lock()
            .query_row(
                "SELECT body, flags FROM reports WHERE report_id = ?1",
                [report_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(body, flags)| StoredReport {
            body,
            flags: parse_flags(&flags),
        }))
    }

    fn schools(&self) -> Result<Vec<SchoolRow>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT n.last_received_ms, n.last_window_end_ms, r.report_id, r.body
             FROM nodes n JOIN reports r ON r.report_id = n.last_report_id
             WHERE r.kind = 'school'
             ORDER BY n.isp_id, n.node_id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let report_id: String = row.get(2)?;
            let body: Vec<u8> = row.get(3)?;
            let report = parse_body(&report_id, &body)?;
            out.extend(SchoolRow::of(
                &report,
                from_ms(row.get(0)?)?,
                from_ms(row.get(1)?)?,
            ));
        }
        Ok(out)
    }

    fn insert_probe(&self, probe: &AcceptedProbe) -> Result<Inserted, StorageError> {
        let r = &probe.result;
        let reasons = serde_json::to_string(&r.reasons)
            .map_err(|e| StorageError::Corrupt(format!("reasons: {e}")))?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let counts = |c: &crate::probe::result::Channel| -> Result<[i64; 3], StorageError> {
            Ok([
                to_i64(c.probed, "probed")?,
                to_i64(c.blocked, "blocked")?,
                to_i64(c.failed, "failed")?,
            ])
        };
        let dns = counts(&r.dns)?;
        let sni = r.sni.as_ref().map(counts).transpose()?;
        let added = tx.execute(
            "INSERT INTO probes (probe_id, prober_id, isp_id, node_id, resolver,
                probed_at_ms, received_at_ms, list_id, list_serial, serial_seen,
                compliant, reasons, dns_probed, dns_blocked, dns_failed,
                sni_probed, sni_blocked, sni_failed, key_id, signature, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                     ?15, ?16, ?17, ?18, ?19, ?20, ?21)
             ON CONFLICT (probe_id) DO NOTHING",
            params![
                r.probe_id,
                r.prober_id,
                r.isp_id,
                r.node_id,
                r.resolver,
                ms(r.probed_at),
                ms(probe.received_at),
                r.list_id,
                to_i64(r.list_serial, "list_serial")?,
                r.serial_seen
                    .map(|s| to_i64(s, "serial_seen"))
                    .transpose()?,
                r.compliant,
                reasons,
                dns[0],
                dns[1],
                dns[2],
                sni.map(|s| s[0]),
                sni.map(|s| s[1]),
                sni.map(|s| s[2]),
                probe.key_id.to_string(),
                probe.signature,
                probe.body,
            ],
        )?;
        tx.commit()?;
        Ok(if added == 0 {
            Inserted::Duplicate
        } else {
            Inserted::Stored { flags: Vec::new() }
        })
    }

    fn probes(&self, query: &ProbeQuery) -> Result<Vec<ProbeRow>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT probe_id, prober_id, isp_id, node_id, resolver, probed_at_ms,
                    received_at_ms, list_id, list_serial, serial_seen, compliant,
                    reasons, dns_probed, dns_blocked, dns_failed,
                    sni_probed, sni_blocked, sni_failed
             FROM probes
             WHERE (?1 IS NULL OR isp_id = ?1)
             ORDER BY probed_at_ms DESC, probe_id
             LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![query.isp_id, query.limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let reasons: String = row.get(11)?;
            let reasons: Vec<String> = serde_json::from_str(&reasons)
                .map_err(|e| StorageError::Corrupt(format!("probe reasons: {e}")))?;
            let sni = match (
                row.get::<_, Option<i64>>(15)?,
                row.get::<_, Option<i64>>(16)?,
                row.get::<_, Option<i64>>(17)?,
            ) {
                (Some(p), Some(b), Some(f)) => Some(ProbeCounts {
                    probed: to_u64(p, "sni_probed")?,
                    blocked: to_u64(b, "sni_blocked")?,
                    failed: to_u64(f, "sni_failed")?,
                }),
                _ => None,
            };
            out.push(ProbeRow {
                probe_id: row.get(0)?,
                prober_id: row.get(1)?,
                isp_id: row.get(2)?,
                node_id: row.get(3)?,
                resolver: row.get(4)?,
                probed_at: from_ms(row.get(5)?)?,
                received_at: from_ms(row.get(6)?)?,
                list_id: row.get(7)?,
                list_serial: to_u64(row.get(8)?, "list_serial")?,
                serial_seen: row
                    .get::<_, Option<i64>>(9)?
                    .map(|v| to_u64(v, "serial_seen"))
                    .transpose()?,
                compliant: row.get(10)?,
                reasons,
                dns: ProbeCounts {
                    probed: to_u64(row.get(12)?, "dns_probed")?,
                    blocked: to_u64(row.get(13)?, "dns_blocked")?,
                    failed: to_u64(row.get(14)?, "dns_failed")?,
                },
                sni,
            });
        }
        Ok(out)
    }

    fn probe_body(&self, probe_id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT body FROM probes WHERE probe_id = ?1",
                [probe_id],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests;
