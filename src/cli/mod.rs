//! The `ward` command line: one file per subcommand, each with an `Args`
//! struct and a `run()`.
//!
//! Exit codes: 0 success, 1 verification failure or invalid input, 64 usage
//! or configuration error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod collector;
mod config_check;
mod generate_docs;
mod keygen;
mod list_build;
mod list_delta;
mod list_export;
mod list_info;
mod list_publish;
mod list_status;
mod list_verify;
mod probe;
mod serve;

/// Exit code for verification failures and invalid input.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and configuration errors (sysexits `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;

/// Exit code of `ward probe` when the node is not compliant.
pub const EXIT_NON_COMPLIANT: u8 = 2;

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
    /// Run the DNS filtering resolver.
    Serve(serve::Args),
    /// Make an Ed25519 key pair (PREFIX.key, PREFIX.pub).
    Keygen(keygen::Args),
    /// Build, verify and inspect signed lists.
    #[command(subcommand)]
    List(ListCommand),
    /// Say whether names are blocked, why, and by which list.
    Check(check::Args),
    /// Probe a resolver: does it enforce the list (canary, sample, SNI)?
    /// Exit 0 compliant, 2 not compliant, 1 error.
    Probe(probe::Args),
    /// Receive, verify and store the compliance reports of ward nodes
    /// (the ministry's collector).
    Collector(collector::Args),
    /// Validate configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write the man page and shell completions (for packaging).
    #[command(hide = true)]
    GenerateDocs(generate_docs::Args),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a config file and report every problem in it.
    Check(config_check::Args),
}

#[derive(Debug, Subcommand)]
enum ListCommand {
    /// Compile source lists into a signed artifact (ministry).
    Build(list_build::Args),
    /// Verify an artifact's signature, integrity and expiry.
    Verify(list_verify::Args),
    /// Show an artifact's manifest.
    Info(list_info::Args),
    /// Ask a running `ward serve` which list it enforces and how updates go.
    Status(list_status::Args),
    /// Write a verified list as an RPZ zone, a domain list or a hosts file.
    Export(list_export::Args),
    /// Sign the delta from one serial of a list to a later one (ministry).
    Delta(list_delta::Args),
    /// Add a signed list to a mirror directory: full list, zstd copy,
    /// deltas from earlier serials, signed index (ministry).
    Publish(list_publish::Args),
}

impl Cli {
    /// The tracing filter the flags ask for.
    fn log_level(&self) -> &'static str {
        match self.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    }

    /// Runs the chosen subcommand. `serve` and `collector` set up logging
    /// from their configuration; every other command logs to stderr at once.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let level = self.log_level();
        let command = match self.command {
            Command::Serve(args) => return serve::run(args, self.verbose),
            Command::Collector(args) => return collector::run(args, self.verbose),
            other => other,
        };
        init_tracing(level, false);
        match command {
            Command::Serve(_) | Command::Collector(_) => unreachable!("handled above"),
            Command::Keygen(args) => keygen::run(args),
            Command::List(ListCommand::Build(args)) => list_build::run(args),
            Command::List(ListCommand::Verify(args)) => list_verify::run(args),
            Command::List(ListCommand::Info(args)) => list_info::run(args),
            Command::List(ListCommand::Status(args)) => list_status::run(args),
            Command::List(ListCommand::Export(args)) => list_export::run(args),
            Command::List(ListCommand::Delta(args)) => list_delta::run(args),
            Command::List(ListCommand::Publish(args)) => list_publish::run(args),
            Command::Check(args) => check::run(args),
            Command::Probe(args) => probe::run(args),
            Command::Config(ConfigCommand::Check(args)) => config_check::run(args),
            Command::GenerateDocs(args) => generate_docs::run(args),
        }
    }
}

/// Logs go to stderr (journald picks them up), coloured only on a
/// terminal; `RUST_LOG` overrides the level. hickory's own logging is held
/// at `warn`: at `info` it logs every query with the client's address,
/// which ward must not do by default.
pub fn init_tracing(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},hickory_server=warn,hickory_proto=warn,hickory_net=warn"
        ))
    });
    // Colour only for a person at a terminal: journald and log files
    // would store the escape codes (and `journalctl` shows them as
    // "[blob data]"). NO_COLOR (no-color.org) turns it off there too.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads trusted public keys from `.pub` files.
fn load_trust(paths: &[std::path::PathBuf]) -> anyhow::Result<crate::list::TrustedKeys> {
    let mut trust = crate::list::TrustedKeys::new();
    for p in paths {
        trust.add(crate::keys::read_public(p)?);
    }
    Ok(trust)
}
