//! `ward list publish --key KEY --dir DIR ARTIFACT`: add a signed list to
//! the static directory a mirror serves (see docs/list-updates.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::keys;
use crate::list::TrustedKeys;
use crate::list::delta::publish::{self, DEFAULT_KEEP};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signing key for the deltas and the index (a .key file).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The directory a mirror serves (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// How many earlier serials get a delta to the new one.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_KEEP)]
    keep: usize,
    /// zstd level of the compressed full list (1-22): lower is faster to
    /// publish, higher smaller to download.
    #[arg(long, value_name = "LEVEL", default_value_t = publish::ZSTD_LEVEL,
          value_parser = clap::value_parser!(i32).range(1..=22))]
    zstd_level: i32,
    /// A public key (.pub) the lists may be signed with. Repeat for
    /// several; without it, the --key's own public key.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// The new signed list (from `ward list build`, with `--salt-from`
    /// the previous serial when the list has confidential categories).
    #[arg(value_name = "ARTIFACT")]
    artifact: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = keys::read_secret(&args.key)?;
    let trust: TrustedKeys = if args.trust.is_empty() {
        [key.verifying_key()].into_iter().collect()
    } else {
        super::load_trust(&args.trust)?
    };
    let artifact = std::fs::read(&args.artifact)
        .with_context(|| format!("cannot read {}", args.artifact.display()))?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let report = publish::publish(
        &args.dir,
        &artifact,
        &key,
        &trust,
        args.keep,
        args.zstd_level,
        jiff::Timestamp::now(),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.artifact.display()))?;
    println!(
        "published serial {} in {}: full list {} bytes, zstd {} bytes ({:.1} %)",
        report.serial,
        args.dir.display(),
        report.full_size,
        report.zst_size,
        100.0 * report.zst_size as f64 / report.full_size.max(1) as f64
    );
    for (base, size) in &report.deltas {
        println!("delta {base} -> {}: {size} bytes", report.serial);
    }
    for (base, why) in &report.skipped {
        eprintln!("warning: no delta from serial {base}: {why}");
    }
    for name in &report.removed {
        println!("removed {name}");
    }
    Ok(ExitCode::SUCCESS)
}
