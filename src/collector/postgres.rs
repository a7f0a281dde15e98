//! [`Storage`] on PostgreSQL: for national scale, one database the
//! ministry already backs up and replicates.
//!
//! * **Durable commits.** A transaction's `COMMIT` returns only once it
//!   is flushed (`synchronous_commit` on, the default); the 2xx the server
//!   sends afterwards never covers a report a crash could lose. At each
//!   connect ward checks the session: `fsync = off` is refused, and a
//!   server (or role, or database) default of `synchronous_commit = off`
//!   is overridden to `on` for ward's own sessions, with a warning.
//! * **Versioned migrations** ([`MIGRATIONS`]) run at open in one
//!   transaction under `pg_advisory_xact_lock`, so two collectors starting
//!   at once do not race; applied versions are rows of `ward_schema`; a
//!   database newer than this build is refused, never written.
//! * **Two connections**: writes (the group-commit writer) on one, reads
//!   (API, dashboard, watchdog) on another, so reads never queue behind a
//!   batch's commit. Each is opened lazily and reopened after it broke: a
//!   call whose reused connection turned out to be dead reconnects and
//!   runs once more (safe: a write that did commit comes back as
//!   `Duplicate`, still stored); otherwise the error is returned (the
//!   node gets 503 and retries) and the next call reconnects.
//! * **TLS** through rustls: `sslmode=require`, `verify-ca` or
//!   `verify-full` with `sslrootcert=FILE` (PEM) or `sslrootcert=system`;
//!   the chain and the host name are always verified. `sslmode=disable` or
//!   no `sslmode`: plain TCP (a warning unless loopback) or a Unix socket.
//!   `prefer` and `allow` are refused: they fall back to plain text
//!   silently.
//! * The URL's password is never printed: errors and logs show the URL
//!   with `***` in its place ([`redact`]).
//!
//! Times are stored as unix milliseconds (`*_ms` columns, `BIGINT`), as in
//! SQLite, so both backends compare and order the same way.

use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls, Statement};

pub use crate::readers::postgres::{Target, check_url, redact};

pub use self::schema::MIGRATIONS;
use self::schema::{check_durability, migrate};
use super::lag::LagRow;
use super::store::{
    Accepted, AcceptedProbe, ActivationRow, Inserted, NodeRow, NodeUpdate, ProbeCounts, ProbeQuery,
    ProbeRow, ReportRow, SchoolRow, Storage, StorageError, StoredReport, WindowQuery, WindowRow,
    blocked_cells, from_ms, ms, parse_body, parse_flags, profile_cells, to_i64, to_u64,
    window_flags,
};

/// Opens a connection to `target`.
fn connect(target: &Target) -> Result<Client, StorageError> {
    let connected = match &target.tls {
        None => target.config.connect(NoTls),
        Some(tls) => target.config.connect(tls.clone()),
    };
    connected.map_err(|e| StorageError::PostgresConnect {
        url: target.shown.clone(),
        error: error_text(&e),
    })
}

/// A `postgres` error as text, with the server's detail when it has one.
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {} ({}){}",
            db.severity(),
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        // The cause (a TLS or I/O error) is not always in the text.
        None => crate::errors::chain(e),
    }
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        Self::Postgres(error_text(&e))
    }
}

/// Whether `e` means the connection is gone (reconnect before reuse).
fn is_broken(e: &postgres::Error, client: &Client) -> bool {
    client.is_closed()
        || e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            // 08: connection exception; 57P01-03: admin shutdown, crash
            // shutdown, cannot connect now.
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
        })
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// A failure inside a call: a `postgres` error (which may mean the
/// connection is gone), or anything else.
enum Fail {
    Pg(postgres::Error),
    Other(StorageError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Self::Other(e)
    }
}

/// Which side a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// One open connection and its prepared statements.
struct Conn {
    client: Client,
    st: Statements,
}

// The SQL of the statements every connection prepares ([`Statements`]).

/// Duplicate?, overlapping a stored window?, the node's latest end.
const CHECK: &str = "SELECT EXISTS (SELECT 1 FROM reports WHERE report_id = $1),
            EXISTS (SELECT 1 FROM reports
                    WHERE isp_id = $2 AND node_id = $3
                      AND window_start_ms < $5 AND window_end_ms > $4),
            (SELECT last_window_end_ms FROM nodes
             WHERE isp_id = $2 AND node_id = $3)";

const INSERT_REPORT: &str = "INSERT INTO reports (
        report_id, isp_id, node_id, window_start_ms, window_end_ms,
        received_at_ms, node_started_ms, ward_version, config_digest,
        min_count, list_id, list_serial, list_sha256, list_issued_ms,
        list_expires_ms, activated_at_ms, list_stale, queries_total,
        malformed, flags, key_id, signature, body, kind)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
     ON CONFLICT (report_id) DO NOTHING";

const INSERT_ACTIVATIONS: &str = "INSERT INTO activations (report_id, seq, list_id, serial, sha256,
        issued_at_ms, activated_at_ms, lag_seconds, at_startup)
     SELECT $1::text, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[],
        $5::text[], $6::bigint[], $7::bigint[], $8::float8[], $9::bool[])";

const UPSERT_NODE: &str = "INSERT INTO nodes (isp_id, node_id, last_report_id, last_received_ms,
        last_window_end_ms, reports, flagged)
     VALUES ($1, $2, $3, $4, $5, 1, $6)
     ON CONFLICT (isp_id, node_id) DO UPDATE SET
        reports = nodes.reports + 1,
        flagged = nodes.flagged + excluded.flagged,
        last_report_id = CASE
            WHEN excluded.last_window_end_ms >= nodes.last_window_end_ms
            THEN excluded.last_report_id ELSE nodes.last_report_id END,
        last_received_ms = CASE
            WHEN excluded.last_window_end_ms >= nodes.last_window_end_ms
            THEN excluded.last_received_ms ELSE nodes.last_received_ms END,
        last_window_end_ms =
            GREATEST(nodes.last_window_end_ms, excluded.last_window_end_ms)";

const NODES: &str = "SELECT n.isp_id, n.node_id, n.last_received_ms, n.last_window_end_ms,
            r.list_id, r.list_serial, r.activated_at_ms, r.list_stale,
            n.reports, n.flagged
     FROM nodes n JOIN reports r ON r.report_id = n.last_report_id
     ORDER BY n.isp_id, n.node_id";

/// The per-node counts, kept in each insert's transaction: the same
/// number as COUNT(*) of reports without scanning them (the watchdog asks
/// every interval).
const COUNT: &str = "SELECT COALESCE(SUM(reports), 0)::bigint FROM nodes";

/// Each node's earliest activation of each serial.
const LAGS: &str = "SELECT isp_id, node_id, list_id, serial, lag_seconds FROM (
        SELECT DISTINCT ON (r.isp_id, r.node_id, a.list_id, a.serial)
               r.isp_id, r.node_id, a.list_id, a.serial, a.lag_seconds
        FROM activations a JOIN reports r ON r.report_id = a.report_id
        ORDER BY r.isp_id, r.node_id, a.list_id, a.serial,
                 a.activated_at_ms, a.report_id, a.seq) first
     ORDER BY list_id, serial,
              isp_id, node_id";

const WINDOWS: &str = "SELECT report_id, isp_id, node_id, window_start_ms, window_end_ms,
            received_at_ms, list_id, list_serial, list_stale,
            queries_total, malformed, flags, body
     FROM reports
     WHERE ($1::text IS NULL OR isp_id = $1)
       AND ($2::text IS NULL OR node_id = $2)
       AND window_start_ms < $4 AND window_end_ms > $3
     ORDER BY isp_id, node_id, window_start_ms, report_id";

const REPORT: &str = "SELECT body, flags FROM reports WHERE report_id = $1";

/// Each node whose latest report is a school report, with that body.
const SCHOOLS: &str = "SELECT n.last_received_ms, n.last_window_end_ms, r.report_id, r.body
     FROM nodes n JOIN reports r ON r.report_id = n.last_report_id
     WHERE r.kind = 'school'
     ORDER BY n.isp_id, n.node_id";

const INSERT_PROBE: &str = "INSERT INTO probes (probe_id, prober_id, isp_id, node_id, resolver,
        probed_at_ms, received_at_ms, list_id, list_serial, serial_seen,
        compliant, reasons, dns_probed, dns_blocked, dns_failed,
        sni_probed, sni_blocked, sni_failed, key_id, signature, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
             $15, $16, $17, $18, $19, $20, $21)
     ON CONFLICT (probe_id) DO NOTHING";

const PROBES: &str = "SELECT probe_id, prober_id, isp_id, node_id, resolver, probed_at_ms,
            received_at_ms, list_id, list_serial, serial_seen, compliant,
            reasons, dns_probed, dns_blocked, dns_failed,
            sni_probed, sni_blocked, sni_failed
     FROM probes
     WHERE ($1::text IS NULL OR isp_id = $1)
     ORDER BY probed_at_ms DESC, probe_id
     LIMIT $2";

const PROBE_BODY: &str = "SELECT body FROM probes WHERE probe_id = $1";

/// The prepared statements of one connection.
struct Statements {
    check: Statement,
    insert_report: Statement,
    insert_activations: Statement,
    upsert_node: Statement,
    nodes: Statement,
    count: Statement,
    lags: Statement,
    windows: Statement,
    report: Statement,
    schools: Statement,
    insert_probe: Statement,
    probes: Statement,
    probe_body: Statement,
}

impl Statements {
    fn prepare(c: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            check: c.prepare(CHECK)?,
            insert_report: c.prepare(INSERT_REPORT)?,
            insert_activations: c.prepare(INSERT_ACTIVATIONS)?,
            upsert_node: c.prepare(UPSERT_NODE)?,
            nodes: c.prepare(NODES)?,
            count: c.prepare(COUNT)?,
            lags: c.prepare(LAGS)?,
            windows: c.prepare(WINDOWS)?,
            report: c.prepare(REPORT)?,
            schools: c.prepare(SCHOOLS)?,
            insert_probe: c.prepare(INSERT_PROBE)?,
            probes: c.prepare(PROBES)?,
            probe_body: c.prepare(PROBE_BODY)?,
        })
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    target: Target,
    writer: Mutex<Option<Conn>>,
    reader: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` or `postgresql://` URL), checks
    /// that commits are durable, and runs pending migrations. Blocking.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let target = Target::parse(url).map_err(|e| StorageError::PostgresUrl {
            url: e.url,
            reason: e.reason,
        })?;
        Self::open_target(target)
    }

    /// [`PostgresStore::open`] with the URL already parsed (by the
    /// config, which read its `sslrootcert`). Blocking.
    pub fn open_target(target: Target) -> Result<Self, StorageError> {
        if target.exposed {
            tracing::warn!(
                url = %target.shown,
                "PostgreSQL connection is plain TCP off loopback: reports and the password cross the network in clear; use sslmode=verify-full with sslrootcert, a Unix socket, or an IPsec/WireGuard link"
            );
        }
        let mut client = connect(&target)?;
        check_durability(&mut client, &target.shown)?;
        migrate(&mut client)?;
        let st = Statements::prepare(&mut client)?;
        tracing::info!(url = %target.shown, tls = target.tls.is_some(), "PostgreSQL storage open");
        Ok(Self {
            target,
            writer: Mutex::new(Some(Conn { client, st })),
            reader: Mutex::new(None),
        })
    }

    /// The schema version of the database (the highest applied).
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        self.call(Role::Reader, |c| {
            Ok(c.client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM ward_schema", &[])?
                .try_get(0)?)
        })
    }

    fn connect(&self, role: Role) -> Result<Conn, StorageError> {
        let mut client = connect(&self.target)?;
        check_durability(&mut client, &self.target.shown)?;
        if role == Role::Reader {
            // A guard: nothing writes through the read connection.
            client.batch_execute("SET default_transaction_read_only = on")?;
        }
        let st = Statements::prepare(&mut client)?;
        Ok(Conn { client, st })
    }

    fn slot(&self, role: Role) -> MutexGuard<'_, Option<Conn>> {
        let slot = match role {
            Role::Writer => &self.writer,
            Role::Reader => &self.reader,
        };
        // A panic while the lock was held dropped its transaction (rolled
        // back at the next use); a broken connection is found and
        // replaced below.
        slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the `role` connection, (re)connecting as needed. When a
    /// connection that was already open turns out to be dead, `f` runs
    /// once more on a new one: the server rolled back whatever `f` had
    /// started, and a commit that did land is seen as duplicates.
    fn call<T>(
        &self,
        role: Role,
        mut f: impl FnMut(&mut Conn) -> Result<T, Fail>,
    ) -> Result<T, StorageError> {
        let mut slot = self.slot(role);
        let mut retried = false;
        loop {
            let reused = slot.as_ref().is_some_and(|c| !c.client.is_closed());
            if !reused {
                *slot = None;
                *slot = Some(self.connect(role)?);
            }
            let Some(conn) = slot.as_mut() else {
                // Invariant: set just above when it was empty.
                return Err(StorageError::Corrupt("no PostgreSQL connection".into()));
            };
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(Fail::Other(e)) => return Err(e),
                Err(Fail::Pg(e)) => {
                    if !is_broken(&e, &conn.client) {
                        return Err(e.into());
                    }
                    *slot = None;
                    if reused && !retried {
                        tracing::warn!(
                            error = %error_text(&e),
                            role = ?role,
                            "PostgreSQL connection lost; reconnecting"
                        );
                        retried = true;
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// The backend process ids of the open connections (writer, reader).
    #[cfg(test)]
    fn backend_pids(&self) -> (Option<i32>, Option<i32>) {
        let pid = |role| {
            self.slot(role).as_mut().and_then(|c| {
                c.client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .ok()
                    .and_then(|r| r.try_get(0).ok())
            })
        };
        (pid(Role::Writer), pid(Role::Reader))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // A `postgres::Client` runs its own small runtime and may not be
        // dropped inside an async one (the server's last handle may go
        // there): close such connections on a thread of their own.
        let conns: Vec<Conn> = [&mut self.writer, &mut self.reader]
            .into_iter()
            .filter_map(|m| m.get_mut().unwrap_or_else(|e| e.into_inner()).take())
            .collect();
        if conns.is_empty() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            let spawned = std::thread::Builder::new()
                .name("ward-pg-close".into())
                .spawn(move || drop(conns));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot close the PostgreSQL connections");
            }
        } else {
            drop(conns);
        }
    }
}

/// Inserts one report inside `tx` (no commit).
fn insert_one(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    a: &Accepted,
) -> Result<Inserted, Fail> {
    let r = &a.report;
    let (start, end) = (ms(r.window_start), ms(r.window_end));
    let row = tx.query_one(
        &st.check,
        &[&r.report_id, &r.isp_id, &r.node_id, &start, &end],
    )?;
    let (known, overlapping, latest_end): (bool, bool, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if known {
        return Ok(Inserted::Duplicate);
    }
    let flags = window_flags(start, end, overlapping, latest_end);
    if insert_report(tx, st, &ReportRow::of(a, &flags)?)? == 0 {
        // Another writer stored it since the check.
        return Ok(Inserted::Duplicate);
    }
    insert_activations(tx, st, &r.report_id, &ActivationRow::all(r)?)?;
    let node = NodeUpdate::of(a, &flags);
    tx.execute(
        &st.upsert_node,
        &[
            &node.isp_id,
            &node.node_id,
            &node.report_id,
            &node.received_at_ms,
            &node.window_end_ms,
            &node.flagged,
        ],
    )?;
    Ok(Inserted::Stored { flags })
}

/// Inserts the `reports` row; returns how many rows went in (0: another
/// writer stored it first).
fn insert_report(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    row: &ReportRow<'_>,
) -> Result<u64, Fail> {
    Ok(tx.execute(
        &st.insert_report,
        &[
            &row.report_id,
            &row.isp_id,
            &row.node_id,
            &row.window_start_ms,
            &row.window_end_ms,
            &row.received_at_ms,
            &row.node_started_ms,
            &row.ward_version,
            &row.config_digest,
            &row.min_count,
            &row.list_id,
            &row.list_serial,
            &row.list_sha256,
            &row.list_issued_ms,
            &row.list_expires_ms,
            &row.activated_at_ms,
            &row.list_stale,
            &row.queries_total,
            &row.malformed,
            &row.flags,
            &row.key_id,
            &row.signature,
            &row.body,
            &row.kind,
        ],
    )?)
}

/// Inserts the activation rows in one statement, one array per column.
fn insert_activations(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    report_id: &str,
    rows: &[ActivationRow<'_>],
) -> Result<(), Fail> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&ActivationRow<'_>) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let seq = column(|x| x.seq);
    let serials = column(|x| x.serial);
    let issued = column(|x| x.issued_at_ms);
    let activated = column(|x| x.activated_at_ms);
    let list_ids: Vec<&str> = rows.iter().map(|x| x.list_id).collect();
    let sha: Vec<&str> = rows.iter().map(|x| x.sha256).collect();
    let lag: Vec<f64> = rows.iter().map(|x| x.lag_seconds).collect();
    let startup: Vec<bool> = rows.iter().map(|x| x.at_startup).collect();
    tx.execute(
        &st.insert_activations,
        &[
            &report_id, &seq, &list_ids, &serials, &sha, &issued, &activated, &lag, &startup,
        ],
    )?;
    Ok(())
}

impl Storage for PostgresStore {
    fn insert_reports(&self, reports: &[Accepted]) -> Result<Vec<Inserted>, StorageError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        self.call(Role::Writer, |conn| {
            let Conn { client, st } = conn;
            let mut tx = client.transaction()?;
            let out = reports
                .iter()
                .map(|a| insert_one(&mut tx, st, a))
                .collect::<Result<Vec<_>, _>>()?;
            // Returns once the commit is flushed (synchronous_commit on).
            tx.commit()?;
            Ok(out)
        })
    }

    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError> {
        let rows = self.call(Role::Reader, |c| Ok(c.client.query(&c.st.nodes, &[])?))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(NodeRow {
                isp_id: row.try_get(0)?,
                node_id: row.try_get(1)?,
                last_report_at: from_ms(row.try_get(2)?)?,
                last_window_end: from_ms(row.try_get(3)?)?,
                list_id: row.try_get(4)?,
                list_serial: row
                    .try_get::<_, Option<i64>>(5)?
                    .map(|v| to_u64(v, "serial"))
                    .transpose()?,
                activated_at: row.try_get::<_, Option<i64>>(6)?.map(from_ms).transpose()?,
                list_stale: row.try_get(7)?,
                reports: to_u64(row.try_get(8)?, "count")?,
                flagged: to_u64(row.try_get(9)?, "count")?,
            });
        }
        Ok(out)
    }

    fn report_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self.call(Role::Reader, |c| {
            Ok(c.client.query_one(&c.st.count, &[])?.try_get(0)?)
        })?;
        to_u64(n, "count")
    }

    fn activation_lags(&self) -> Result<Vec<LagRow>, StorageError> {
        let rows = self.call(Role::Reader, |c| Ok(c.client.query(&c.st.lags, &[])?))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(LagRow {
                isp_id: row.try_get(0)?,
                node_id: row.try_get(1)?,
                list_id: row.try_get(2)?,
                serial: to_u64(row.try_get(3)?, "serial")?,
                lag_seconds: row.try_get(4)?,
            });
        }
        Ok(out)
    }

    fn windows(&self, query: &WindowQuery) -> Result<Vec<WindowRow>, StorageError> {
        let (from, to) = (ms(query.from), ms(query.to));
        let rows = self.call(Role::Reader, |c| {
            Ok(c.client
                .query(&c.st.windows, &[&query.isp_id, &query.node_id, &from, &to])?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let report_id: String = row.try_get(0)?;
            // The counts come from the body as signed (it was parsed and
            // checked at ingest, so a failure here is corruption).
            let body: &[u8] = row.try_get(12)?;
            let report = parse_body(&report_id, body)?;
            out.push(WindowRow {
                isp_id: row.try_get(1)?,
                node_id: row.try_get(2)?,
                window_start: from_ms(row.try_get(3)?)?,
                window_end: from_ms(row.try_get(4)?)?,
                received_at: from_ms(row.try_get(5)?)?,
                list_id: row.try_get(6)?,
                list_serial: row
                    .try_get::<_, Option<i64>>(7)?
                    .map(|v| to_u64(v, "serial"))
                    .transpose()?,
                list_stale: row.try_get(8)?,
                queries_total: to_u64(row.try_get(9)?, "queries_total")?,
                malformed_packets: to_u64(row.try_get(10)?, "malformed")?,
                flags: parse_flags(row.try_get(11)?),
                blocked: blocked_cells(&report),
                profiles: profile_cells(&report),
                report_id,
            });
        }
        Ok(out)
    }

    fn report(&self, report_id: &str) -> Result<Option<StoredReport>, StorageError> {
        let row = self.call(Role::Reader, |c| {
            Ok(c.client.query_opt(&c.st.report, &[&report_id])?)
        })?;
        row.map(|row| {
            Ok(StoredReport {
                body: row.try_get(0)?,
                flags: parse_flags(row.try_get(1)?),
            })
        })
        .transpose()
    }

    fn schools(&self) -> Result<Vec<SchoolRow>, StorageError> {
        let rows = self.call(Role::Reader, |c| Ok(c.client.query(&c.st.schools, &[])?))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let report_id: String = row.try_get(2)?;
            let report = parse_body(&report_id, row.try_get(3)?)?;
            out.extend(SchoolRow::of(
                &report,
                from_ms(row.try_get(0)?)?,
                from_ms(row.try_get(1)?)?,
            ));
        }
        Ok(out)
    }

    fn insert_probe(&self, probe: &AcceptedProbe) -> Result<Inserted, StorageError> {
        let r = &probe.result;
        let reasons = serde_json::to_string(&r.reasons)
            .map_err(|e| StorageError::Corrupt(format!("reasons: {e}")))?;
        let counts = |c: &crate::probe::result::Channel| -> Result<[i64; 3], StorageError> {
            Ok([
                to_i64(c.probed, "probed")?,
                to_i64(c.blocked, "blocked")?,
                to_i64(c.failed, "failed")?,
            ])
        };
        let dns = counts(&r.dns)?;
        let sni = r.sni.as_ref().map(counts).transpose()?;
        let list_serial = to_i64(r.list_serial, "list_serial")?;
        let serial_seen = r
            .serial_seen
            .map(|s| to_i64(s, "serial_seen"))
            .transpose()?;
        let (probed_at, received_at) = (ms(r.probed_at), ms(probe.received_at));
        let key_id = probe.key_id.to_string();
        let (sni_p, sni_b, sni_f) = (sni.map(|s| s[0]), sni.map(|s| s[1]), sni.map(|s| s[2]));
        // One statement: its own transaction, durable when it returns.
        let added = self.call(Role::Writer, |c| {
            Ok(c.client.execute(
                &c.st.insert_probe,
                &[
                    &r.probe_id,
                    &r.prober_id,
                    &r.isp_id,
                    &r.node_id,
                    &r.resolver,
                    &probed_at,
                    &received_at,
                    &r.list_id,
                    &list_serial,
                    &serial_seen,
                    &r.compliant,
                    &reasons,
                    &dns[0],
                    &dns[1],
                    &dns[2],
                    &sni_p,
                    &sni_b,
                    &sni_f,
                    &key_id,
                    &probe.signature,
                    &probe.body,
                ],
            )?)
        })?;
        Ok(if added == 0 {
            Inserted::Duplicate
        } else {
            Inserted::Stored { flags: Vec::new() }
        })
    }

    fn probes(&self, query: &ProbeQuery) -> Result<Vec<ProbeRow>, StorageError> {
        let limit = i64::from(query.limit);
        let rows = self.call(Role::Reader, |c| {
            Ok(c.client.query(&c.st.probes, &[&query.isp_id, &limit])?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let reasons: Vec<String> = serde_json::from_str(row.try_get(11)?)
                .map_err(|e| StorageError::Corrupt(format!("probe reasons: {e}")))?;
            let sni = match (
                row.try_get::<_, Option<i64>>(15)?,
                row.try_get::<_, Option<i64>>(16)?,
                row.try_get::<_, Option<i64>>(17)?,
            ) {
                (Some(p), Some(b), Some(f)) => Some(ProbeCounts {
                    probed: to_u64(p, "sni_probed")?,
                    blocked: to_u64(b, "sni_blocked")?,
                    failed: to_u64(f, "sni_failed")?,
                }),
                _ => None,
            };
            out.push(ProbeRow {
                probe_id: row.try_get(0)?,
                prober_id: row.try_get(1)?,
                isp_id: row.try_get(2)?,
                node_id: row.try_get(3)?,
                resolver: row.try_get(4)?,
                probed_at: from_ms(row.try_get(5)?)?,
                received_at: from_ms(row.try_get(6)?)?,
                list_id: row.try_get(7)?,
                list_serial: to_u64(row.try_get(8)?, "list_serial")?,
                serial_seen: row
                    .try_get::<_, Option<i64>>(9)?
                    .map(|v| to_u64(v, "serial_seen"))
                    .transpose()?,
                compliant: row.try_get(10)?,
                reasons,
                dns: ProbeCounts {
                    probed: to_u64(row.try_get(12)?, "dns_probed")?,
                    blocked: to_u64(row.try_get(13)?, "dns_blocked")?,
                    failed: to_u64(row.try_get(14)?, "dns_failed")?,
                },
                sni,
            });
        }
        Ok(out)
    }

    fn probe_body(&self, probe_id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self.call(Role::Reader, |c| {
            Ok(c.client.query_opt(&c.st.probe_body, &[&probe_id])?)
        })?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

mod schema;
#[cfg(test)]
mod tests;
