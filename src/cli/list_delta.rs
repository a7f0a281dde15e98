//! `ward list delta`: the signed delta from one serial of a list to a
//! later one (see docs/list-updates.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::keys;
use crate::list::{self, TrustedKeys, delta};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signing key (a .key file from `ward keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// A public key (.pub) the two lists may be signed with. Repeat for
    /// several; without it, the --key's own public key.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// Where to write the delta (written atomically).
    #[arg(short, long, value_name = "OUT.wdelta")]
    out: PathBuf,
    /// The full list the delta applies to (signed artifact).
    #[arg(value_name = "OLD.ward")]
    old: PathBuf,
    /// The later full list the delta leads to (signed artifact, built
    /// with `ward list build --salt-from OLD.ward` when the list has
    /// confidential categories).
    #[arg(value_name = "NEW.ward")]
    new: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = keys::read_secret(&args.key)?;
    let trust: TrustedKeys = if args.trust.is_empty() {
        [key.verifying_key()].into_iter().collect()
    } else {
        super::load_trust(&args.trust)?
    };
    let open = |path: &PathBuf| {
        list::open_file(path, &trust)
            .and_then(|l| l.deep_check().map(|()| l))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    let (old, new) = (open(&args.old)?, open(&args.new)?);
    let (bytes, stats) = delta::diff(&old, &new, &key)
        .map_err(|e| anyhow::anyhow!("{} -> {}: {e}", args.old.display(), args.new.display()))?;
    crate::fsx::write_atomic(&args.out, &bytes, 0o644, true)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {}: list {} serial {} -> {}, {} rule(s) added, {} removed ({} confidential name(s) changed), {} bytes",
        args.out.display(),
        new.list_id(),
        old.serial(),
        new.serial(),
        stats.added,
        stats.removed,
        stats.confidential_names,
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}
