//! `ward keygen`: make an Ed25519 key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::keys::{self, KeyId};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Write PREFIX.key (secret, mode 0600) and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = keys::generate().context("cannot read the system's random number generator")?;
    let (secret, public) = keys::write_pair(&args.out, &key, args.force)?;
    println!("key id: {}", KeyId::of(&key.verifying_key()));
    println!("wrote {} (secret, mode 0600)", secret.display());
    println!("wrote {}", public.display());
    Ok(ExitCode::SUCCESS)
}
