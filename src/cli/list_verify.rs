//! `ward list verify`: check signature, integrity and expiry.

use std::path::PathBuf;
use std::process::ExitCode;

use super::load_trust;
use crate::list;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A trusted public key (.pub). Repeat to trust several (key rotation).
    #[arg(long, value_name = "PUB", required = true)]
    trust: Vec<PathBuf>,
    /// Accept a list whose validity has ended.
    #[arg(long)]
    allow_expired: bool,
    /// The artifact to verify.
    file: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trust = load_trust(&args.trust)?;
    let verified = list::open_file(&args.file, &trust)
        .and_then(|l| l.deep_check().map(|()| l))
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let expired = verified.check_expiry(jiff::Timestamp::now());
    if let Err(e) = &expired
        && !args.allow_expired
    {
        anyhow::bail!("{}: {e}", args.file.display());
    }
    let m = verified.manifest();
    println!(
        "{}: OK: list {} serial {}, {} rules, signed by key {}, expires {}{}",
        args.file.display(),
        m.list_id,
        m.serial,
        m.entries,
        verified.key_id(),
        m.expires_at,
        if expired.is_err() { " (EXPIRED)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
