//! The `ward` command line: one file per subcommand, each with an `Args`
//! struct and a `run()`.
//!
//! Exit codes: 0 success, 1 verification failure or invalid input, 64 usage
//! or configuration error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod keygen;
mod list_build;
mod list_info;
mod list_verify;

/// Exit code for verification failures and invalid input.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and configuration errors (sysexits `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;

/// An error in how ward was invoked; exits with [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// ward enforces the national child-protection blocklist on ISP resolvers.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about, propagate_version = true)]
pub struct Cli {
    /// Log more (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make an Ed25519 key pair (PREFIX.key, PREFIX.pub).
    Keygen(keygen::Args),
    /// Build, verify and inspect signed lists.
    #[command(subcommand)]
    List(ListCommand),
    /// Say whether names are blocked, why, and by which list.
    Check(check::Args),
}

#[derive(Debug, Subcommand)]
enum ListCommand {
    /// Compile source lists into a signed artifact (ministry).
    Build(list_build::Args),
    /// Verify an artifact's signature, integrity and expiry.
    Verify(list_verify::Args),
    /// Show an artifact's manifest.
    Info(list_info::Args),
}

impl Cli {
    /// The tracing filter the flags ask for.
    pub fn log_level(&self) -> &'static str {
        match self.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    }

    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Keygen(args) => keygen::run(args),
            Command::List(ListCommand::Build(args)) => list_build::run(args),
            Command::List(ListCommand::Verify(args)) => list_verify::run(args),
            Command::List(ListCommand::Info(args)) => list_info::run(args),
            Command::Check(args) => check::run(args),
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the level.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Loads trusted public keys from `.pub` files.
fn load_trust(paths: &[std::path::PathBuf]) -> anyhow::Result<crate::list::TrustedKeys> {
    let mut trust = crate::list::TrustedKeys::new();
    for p in paths {
        trust.add(crate::keys::read_public(p)?);
    }
    Ok(trust)
}
