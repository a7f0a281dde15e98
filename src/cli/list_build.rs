//! `ward list build`: compile source lists into a signed artifact.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::UsageError;
use crate::keys::{self, KeyId};
use crate::list::{BuildError, BuildOptions, BuildStats, CANARY_CATEGORY, Compiler, canary_name};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signing key (a .key file from `ward keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// List serial; must be higher than every serial published before.
    #[arg(long)]
    serial: u64,
    /// List identifier, e.g. `vn-national`.
    #[arg(long, value_name = "ID")]
    list_id: String,
    /// How long the list stays valid, e.g. `7d`, `36h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    valid_for: std::time::Duration,
    /// Issue time (RFC 3339); defaults to now.
    #[arg(long, value_name = "TIME")]
    issued_at: Option<jiff::Timestamp>,
    /// Store this category's names only as keyed hashes. Repeatable.
    #[arg(long, value_name = "CATEGORY")]
    confidential: Vec<String>,
    /// The youngest age for which a category is acceptable, recorded in
    /// the signed manifest: profiles of younger readers that use this
    /// list block it. Repeatable. A category of a list other than the
    /// national one without a minimum age blocks for every age.
    #[arg(long, value_name = "CATEGORY=AGE", value_parser = parse_min_age)]
    min_age: Vec<(String, u8)>,
    /// Add the canary entry `=s<SERIAL>.<DOMAIN>` in category `canary`: a
    /// probe asking for it learns whether a node enforces this serial. The
    /// domain should answer every name (a wildcard), so only filtering
    /// makes the canary fail to resolve.
    #[arg(long, value_name = "DOMAIN")]
    canary_domain: Option<String>,
    /// Where to write the artifact (written atomically).
    #[arg(short, long, value_name = "OUT.ward")]
    out: PathBuf,
    /// Source list files.
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<PathBuf>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 7d, 36h, 90m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

fn parse_min_age(s: &str) -> Result<(String, u8), String> {
    let (category, age) = s
        .split_once('=')
        .ok_or_else(|| "expected CATEGORY=AGE, e.g. social=13".to_string())?;
    let age = age
        .trim()
        .parse::<u8>()
        .map_err(|_| format!("age {age:?} is not a whole number of years"))?;
    Ok((category.trim().to_string(), age))
}

/// The source line of the canary entry; the domain is checked like any
/// source name.
fn canary_line(serial: u64, domain: &str) -> anyhow::Result<String> {
    let name = canary_name(serial, domain);
    crate::domain::DomainName::parse(&name)
        .map_err(|e| UsageError(format!("--canary-domain {domain:?}: {e}")))?;
    Ok(format!("={name} {CANARY_CATEGORY}\n"))
}

/// The `--min-age` flags as a map; a category rated twice is a mistake.
fn min_ages(flags: &[(String, u8)]) -> Result<BTreeMap<String, u8>, UsageError> {
    let mut ages = BTreeMap::new();
    for (category, age) in flags.iter().cloned() {
        if let Some(before) = ages.insert(category.clone(), age) {
            return Err(UsageError(format!(
                "--min-age {category}: given twice ({before} and {age})"
            )));
        }
    }
    Ok(ages)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = keys::read_secret(&args.key)?;
    let opts = options(&args)?;
    let compiler = read_sources(&args, &opts)?;
    let (bytes, stats) = build(compiler, &opts, &key, &args.out)?;
    crate::fsx::write_atomic(&args.out, &bytes, 0o644, true)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {}: list {} serial {}, {} rules ({} confidential) from {} lines, {} duplicate(s) merged",
        args.out.display(),
        opts.list_id,
        opts.serial,
        stats.rules,
        stats.confidential_rules,
        stats.lines,
        stats.duplicates
    );
    if let Some(domain) = &args.canary_domain {
        println!(
            "canary: {} (category {CANARY_CATEGORY})",
            canary_name(opts.serial, domain)
        );
    }
    println!(
        "{} bytes, signed by key {}, valid until {}",
        bytes.len(),
        KeyId::of(&key.verifying_key()),
        opts.expires_at
    );
    Ok(ExitCode::SUCCESS)
}

/// What the manifest will say, from the flags.
fn options(args: &Args) -> anyhow::Result<BuildOptions> {
    let issued_at = args.issued_at.unwrap_or_else(|| {
        // Whole seconds read better in manifests and logs.
        let now = jiff::Timestamp::now().as_second();
        jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    });
    let valid_for = jiff::SignedDuration::try_from(args.valid_for)
        .map_err(|_| UsageError("--valid-for is too long".into()))?;
    let expires_at = issued_at
        .checked_add(valid_for)
        .map_err(|_| UsageError("--valid-for is too long".into()))?;
    Ok(BuildOptions {
        list_id: args.list_id.clone(),
        serial: args.serial,
        issued_at,
        expires_at,
        confidential: args.confidential.iter().cloned().collect::<BTreeSet<_>>(),
        min_age: min_ages(&args.min_age)?,
    })
}

/// A compiler fed the canary entry (with `--canary-domain`) and then
/// every source file.
fn read_sources(args: &Args, opts: &BuildOptions) -> anyhow::Result<Compiler> {
    let mut compiler = Compiler::new();
    if let Some(domain) = &args.canary_domain {
        if opts.confidential.contains(CANARY_CATEGORY) {
            return Err(UsageError(format!(
                "--confidential {CANARY_CATEGORY}: the canary category must stay public so probes can ask for it"
            ))
            .into());
        }
        let line = canary_line(opts.serial, domain)?;
        compiler.add_source("--canary-domain", line.as_bytes())?;
    }
    for path in &args.sources {
        let label = path.display().to_string();
        if path.is_dir() {
            bail!("{label} is a directory, not a source list");
        }
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {label}"))?;
        compiler.add_source(&label, BufReader::with_capacity(1 << 16, file))?;
    }
    Ok(compiler)
}

/// Builds and signs the artifact. Invalid source lines are printed, one
/// a line; invalid options are usage errors.
fn build(
    compiler: Compiler,
    opts: &BuildOptions,
    key: &ed25519_dalek::SigningKey,
    out: &Path,
) -> anyhow::Result<(Vec<u8>, BuildStats)> {
    match compiler.build(opts, key) {
        Ok(built) => Ok(built),
        Err(BuildError::Source(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!(
                "{} invalid line(s); no list was written to {}",
                errors.len(),
                out.display()
            );
        }
        Err(
            e @ (BuildError::BadListId
            | BuildError::BadValidity
            | BuildError::BadConfidential(_)
            | BuildError::BadMinAge(_)
            | BuildError::MinAgeConfidential(_)
            | BuildError::MinAgeUnused(_)),
        ) => Err(UsageError(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}
