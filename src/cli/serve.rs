//! `ward serve`: the DNS filtering resolver daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use super::UsageError;
use crate::config::{Config, LogFormat};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file (TOML). Without it, the embedded defaults run:
    /// listen on 127.0.0.1:5353, the demo list, the nameservers of
    /// /etc/resolv.conf.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args, verbose: u8) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|errors| {
            UsageError(format!(
                "{errors}\n{} error(s) in {}",
                errors.0.len(),
                path.display()
            ))
        })?,
        None => Config::embedded(),
    };
    let level = match verbose {
        0 => config.log.level.clone(),
        1 => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    super::init_tracing(&level, config.log.format == LogFormat::Json);
    if args.config.is_none() {
        tracing::info!("no --config given: running on the embedded defaults with the DEMO list");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ward-worker")
        .build()?;
    runtime.block_on(crate::serve::run(
        config,
        args.config,
        std::future::pending(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
