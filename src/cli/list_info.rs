//! `ward list info`: show an artifact's manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use super::load_trust;
use crate::list::{self, Manifest, verify};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Verify against these public keys first. Without it the manifest is
    /// shown unverified, and says so.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
    /// The artifact.
    file: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let shown = args.file.display().to_string();
    let (manifest, file_sha, status) = if args.trust.is_empty() {
        let bytes = verify::read_file(&args.file).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let (_, manifest) = verify::inspect_unverified(bytes.as_slice())
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes.as_slice()));
        (manifest, sha, "NOT CHECKED (pass --trust PUB to verify)")
    } else {
        let trust = load_trust(&args.trust)?;
        let verified =
            list::open_file(&args.file, &trust).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        (
            verified.manifest().clone(),
            hex::encode(verified.sha256()),
            "valid",
        )
    };
    let expired = jiff::Timestamp::now() >= manifest.expires_at;
    if args.json {
        let v = serde_json::json!({
            "file": shown,
            "signature": if args.trust.is_empty() { "unchecked" } else { "valid" },
            "expired": expired,
            "sha256": file_sha,
            "manifest": manifest,
        });
        println!("{v}");
    } else {
        print_text(&shown, &manifest, &file_sha, status, expired);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(file: &str, m: &Manifest, sha: &str, status: &str, expired: bool) {
    println!("file:        {file}");
    println!("signature:   {status}");
    println!("list id:     {}", m.list_id);
    println!("serial:      {}", m.serial);
    println!("issued at:   {}", m.issued_at);
    println!(
        "expires at:  {}{}",
        m.expires_at,
        if expired { "  (EXPIRED)" } else { "" }
    );
    println!("key id:      {}", m.key_id);
    println!("rules:       {}", m.entries);
    println!("sha256:      {sha}");
    println!(
        "payload:     {} bytes, sha256 {}",
        m.payload.len, m.payload.sha256
    );
    println!("categories:");
    for c in &m.categories {
        let rating = c
            .min_age
            .map(|age| format!("  from age {age}"))
            .unwrap_or_default();
        println!(
            "  {:<24} {:>12}{}{rating}",
            c.name,
            c.entries,
            if c.confidential {
                "  confidential (hashed)"
            } else {
                ""
            }
        );
    }
}
