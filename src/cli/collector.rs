//! `ward collector`: the ministry's receiver for compliance reports.

use std::path::PathBuf;
use std::process::ExitCode;

use super::UsageError;
use crate::config::LogFormat;
use crate::config::collector::CollectorConfig;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Collector configuration file (TOML); see docs/collector.md.
    #[arg(
        long,
        short,
        value_name = "FILE",
        required_unless_present = "hash_password"
    )]
    config: Option<PathBuf>,
    /// Read a password from standard input (one line) and print its
    /// Argon2id hash for a `[[user]]` entry's `password_hash`; then exit.
    #[arg(long, conflicts_with = "config")]
    hash_password: bool,
    /// Validate the config, its registry and the files they name (keys,
    /// TLS, trusted keys), print a summary and exit: 0 if valid, 64 with
    /// every problem otherwise. Opens no database and binds nothing.
    #[arg(long, requires = "config")]
    check: bool,
}

pub(crate) fn run(args: Args, verbose: u8) -> anyhow::Result<ExitCode> {
    let Some(path) = args.config else {
        return hash_password();
    };
    let config = CollectorConfig::load(&path).map_err(|errors| {
        UsageError(format!(
            "{errors}\n{} error(s) in {} (or the files it names)",
            errors.0.len(),
            path.display()
        ))
    })?;
    if args.check {
        println!("{}: OK: {}", path.display(), summary(&config));
        return Ok(ExitCode::SUCCESS);
    }
    let level = match verbose {
        0 => config.log.level.clone(),
        1 => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    super::init_tracing(&level, config.log.format == LogFormat::Json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ward-collector")
        .build()?;
    runtime.block_on(crate::collector::run(config, shutdown_signal()))?;
    tracing::info!("collector stopped");
    Ok(ExitCode::SUCCESS)
}

/// One line on what a valid config will do.
fn summary(config: &CollectorConfig) -> String {
    use crate::config::collector::{PublishedSource, StorageSettings};
    let scheme = if config.tls.is_some() {
        "HTTPS"
    } else {
        "HTTP (plain: behind a TLS proxy)"
    };
    let storage = match &config.storage {
        StorageSettings::Sqlite(p) => format!("SQLite {}", p.display()),
        // The URL may hold a password, in the user part or as a
        // `password=` parameter: redacted in both.
        StorageSettings::Postgres(pg) => format!("PostgreSQL at {}", pg.target.shown),
    };
    let published = match config.published.as_ref().map(|p| &p.source) {
        Some(PublishedSource::Url(u)) => format!("latest serial from {u}"),
        Some(PublishedSource::File(f)) => format!("latest serial from {}", f.display()),
        None => "latest serial from the nodes' reports ([published] not set)".to_owned(),
    };
    format!(
        "{scheme} on {}; {storage}; {} registered node(s), {} prober(s); {} user(s); nodes silent after 3 × {}; {published}",
        config.listen,
        config.registry.nodes().len(),
        config.registry.probers().len(),
        config.users.len(),
        humantime::format_duration(config.report_interval),
    )
}

/// `--hash-password`: one line of standard input to a PHC string.
fn hash_password() -> anyhow::Result<ExitCode> {
    use argon2::PasswordHasher;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(UsageError("no password on standard input".into()).into());
    }
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT (SIGHUP reloads the registry; see
/// `collector::run`).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the collector with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}
