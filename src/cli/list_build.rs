//! `ward list build`: compile source lists into a signed artifact. The
//! sources are ward's own format, or (`--format`) lists in another format
//! imported into one category (`--category`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::UsageError;
use crate::domain::DomainName;
use crate::keys::{self, KeyId};
use crate::list::import::Format as ImportFormat;
use crate::list::source::{LineError, SourceError, is_category};
use crate::list::{
    BuildError, BuildOptions, BuildStats, CANARY_CATEGORY, Compiler, ImportOptions, canary_name,
};

/// The format of the source files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// ward's own: `NAME CATEGORY` per line, `=NAME` for an exact rule.
    Ward,
    /// A Response Policy Zone (zone file).
    Rpz,
    /// A hosts file: `ADDRESS NAME…` per line (exact rules).
    Hosts,
    /// One name per line (subtree rules).
    Domains,
    /// Adblock Plus / AdGuard filter rules: `||NAME^` and the like.
    Adblock,
}

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
    /// The format of the sources. Formats other than `ward` have no
    /// category column: every rule takes --category. See docs/rpz.md.
    #[arg(long, value_enum, default_value = "ward")]
    format: Format,
    /// The category of every rule of an imported list (with --format
    /// rpz|hosts|domains|adblock, where it is required).
    #[arg(long, value_name = "NAME")]
    category: Option<String>,
    /// RPZ: the zone's name, for a file that does not start with its SOA
    /// record or set $ORIGIN.
    #[arg(long, value_name = "NAME")]
    zone: Option<String>,
    /// Imported lists: leave out, with a warning each, lines the format
    /// allows but a ward list cannot say (allow rules, IP triggers,
    /// cosmetic filters, …) instead of failing the build.
    #[arg(long)]
    skip_unsupported: bool,
    /// Key the confidential names' hashes with the salt of this earlier
    /// serial of the list (signed with the same --key), so that `ward list
    /// delta` and `ward list publish` can make a delta between the two.
    #[arg(long, value_name = "PREVIOUS.ward")]
    salt_from: Option<PathBuf>,
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

/// The salt of an earlier serial (`--salt-from`), verified with the
/// signing key's own public key.
fn salt_of(path: &Path, key: &ed25519_dalek::SigningKey) -> anyhow::Result<[u8; 32]> {
    let trust: crate::list::TrustedKeys = [key.verifying_key()].into_iter().collect();
    let list = crate::list::open_file(path, &trust).map_err(|e| {
        UsageError(format!(
            "--salt-from {}: {e} (the earlier list must be signed with --key)",
            path.display()
        ))
    })?;
    let mut salt = [0u8; 32];
    hex::decode_to_slice(&list.manifest().salt, &mut salt)
        .context("--salt-from: the verified manifest's salt is not hex")?;
    Ok(salt)
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
    let import = import_options(&args)?;
    let key = keys::read_secret(&args.key)?;
    let opts = options(&args)?;
    let salt = match &args.salt_from {
        Some(path) => Some(salt_of(path, &key)?),
        None => None,
    };
    let (compiler, skipped) = read_sources(&args, &opts, import.as_ref())?;
    let (bytes, stats) = build(compiler, &opts, &key, salt, &args.out)?;
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
    if skipped > 0 {
        println!("left out {skipped} unsupported line(s) (--skip-unsupported), each named above");
    }
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

/// How to read the sources: `None` for ward's own format. The flags of
/// imports are refused with ward's format, and the reverse.
fn import_options(args: &Args) -> Result<Option<ImportOptions>, UsageError> {
    let format = match args.format {
        Format::Ward => {
            for (given, flag) in [
                (args.category.is_some(), "--category"),
                (args.zone.is_some(), "--zone"),
                (args.skip_unsupported, "--skip-unsupported"),
            ] {
                if given {
                    return Err(UsageError(format!(
                        "{flag} is for imported lists (--format rpz|hosts|domains|adblock); \
                         a ward source names each line's category"
                    )));
                }
            }
            return Ok(None);
        }
        Format::Rpz => ImportFormat::Rpz,
        Format::Hosts => ImportFormat::Hosts,
        Format::Domains => ImportFormat::Domains,
        Format::Adblock => ImportFormat::Adblock,
    };
    let name = <Format as clap::ValueEnum>::to_possible_value(&args.format)
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let Some(category) = args.category.clone() else {
        return Err(UsageError(format!(
            "--format {name} needs --category NAME: the format has no category column, so every rule takes that one"
        )));
    };
    if !is_category(&category) {
        return Err(UsageError(format!(
            "--category {category:?}: a category matches [a-z0-9-]+ and is at most 63 bytes"
        )));
    }
    let zone = match &args.zone {
        Some(_) if format != ImportFormat::Rpz => {
            return Err(UsageError(format!(
                "--zone is for --format rpz, not --format {name}"
            )));
        }
        Some(zone) => {
            Some(DomainName::parse(zone).map_err(|e| UsageError(format!("--zone {zone:?}: {e}")))?)
        }
        None => None,
    };
    Ok(Some(ImportOptions {
        format,
        category,
        zone,
        skip_unsupported: args.skip_unsupported,
    }))
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
/// every source file; and the number of unsupported lines left out
/// (`--skip-unsupported`), each printed as a warning.
fn read_sources(
    args: &Args,
    opts: &BuildOptions,
    import: Option<&ImportOptions>,
) -> anyhow::Result<(Compiler, usize)> {
    let mut compiler = Compiler::new();
    let mut skipped = 0;
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
        let reader = BufReader::with_capacity(1 << 16, file);
        match import {
            None => compiler.add_source(&label, reader)?,
            Some(import) => {
                let left_out = compiler.import(&label, reader, import)?;
                for e in &left_out {
                    eprintln!("{}:{}: warning: left out, {}", e.file, e.line, e.error);
                }
                skipped += left_out.len();
            }
        }
    }
    Ok((compiler, skipped))
}

/// How many of the errors are lines valid in their format but beyond a
/// ward list, which `--skip-unsupported` would leave out.
fn unsupported(errors: &[SourceError]) -> usize {
    errors
        .iter()
        .filter(|e| matches!(e.error, LineError::Unsupported(_)))
        .count()
}

/// Builds and signs the artifact. Invalid source lines are printed, one
/// a line; invalid options are usage errors.
fn build(
    compiler: Compiler,
    opts: &BuildOptions,
    key: &ed25519_dalek::SigningKey,
    salt: Option<[u8; 32]>,
    out: &Path,
) -> anyhow::Result<(Vec<u8>, BuildStats)> {
    let built = match salt {
        Some(salt) => compiler.build_with_salt(opts, key, salt),
        None => compiler.build(opts, key),
    };
    match built {
        Ok(built) => Ok(built),
        Err(BuildError::Source(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            let unsupported = unsupported(&errors);
            if unsupported > 0 {
                eprintln!(
                    "{unsupported} of them are valid in their format but cannot be said in a ward list; \
                     --skip-unsupported leaves such lines out"
                );
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
            | BuildError::BadCategory(_)
            | BuildError::BadMinAge(_)
            | BuildError::MinAgeConfidential(_)
            | BuildError::MinAgeUnused(_)),
        ) => Err(UsageError(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}
