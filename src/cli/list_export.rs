//! `ward list export`: a verified list for resolvers that are not ward: an
//! RPZ zone (BIND, Unbound, PowerDNS Recursor, Knot Resolver), a domain
//! list or a hosts file. Rules of confidential categories cannot be
//! written (they are keyed hashes); they are counted on stderr and the
//! output says so.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use super::{UsageError, load_trust};
use crate::domain::DomainName;
use crate::keys;
use crate::list::export::{self, Action, ExportError, ExportStats, RpzOptions};
use crate::list::{self, Bytes, ListArtifact, TrustedKeys, Verified};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A Response Policy Zone (zone file).
    Rpz,
    /// One name per line.
    Domains,
    /// `0.0.0.0 NAME` per line (exact names only).
    Hosts,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The list artifact to export.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "demo",
        requires = "trust"
    )]
    list: Option<PathBuf>,
    /// Trusted public key(s) for the list.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// Use the embedded demo list and key instead of --list/--trust.
    #[arg(long, conflicts_with_all = ["list", "trust"])]
    demo: bool,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// RPZ: the zone's name.
    #[arg(long, value_name = "NAME", default_value = "child.rpz.")]
    zone: String,
    /// RPZ: TTL of every record, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    ttl: u32,
    /// RPZ: the action for every category not named by --category-action.
    #[arg(long, value_enum, default_value = "nxdomain")]
    action: Action,
    /// RPZ: the action for one category (repeatable), e.g. adult=redirect.
    #[arg(long, value_name = "CATEGORY=ACTION", value_parser = parse_category_action)]
    category_action: Vec<(String, Action)>,
    /// RPZ: block page IPv4 address(es) for the redirect action.
    #[arg(long, value_name = "ADDR")]
    sinkhole_ipv4: Vec<Ipv4Addr>,
    /// RPZ: block page IPv6 address(es) for the redirect action.
    #[arg(long, value_name = "ADDR")]
    sinkhole_ipv6: Vec<Ipv6Addr>,
    /// Write here (atomically) instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn parse_category_action(s: &str) -> Result<(String, Action), String> {
    export::parse_category_action(s)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rpz = rpz_options(&args)?;
    let list = open(&args)?;
    if let Err(e) = list.check_expiry(jiff::Timestamp::now()) {
        eprintln!("ward: warning: {e}; exporting it all the same");
    }
    let write = |out: &mut dyn std::io::Write| -> Result<ExportStats, ExportError> {
        match args.format {
            Format::Rpz => export::write_rpz(&list, &rpz, out),
            Format::Domains => export::write_domains(&list, out),
            Format::Hosts => export::write_hosts(&list, out),
        }
    };
    let stats = match &args.out {
        Some(path) => {
            // An I/O error comes back through the writer; any other
            // failure is kept here, and either way the file is untouched.
            let mut outcome = None;
            let written =
                crate::fsx::write_atomic_with(path, 0o644, true, |out| match write(out) {
                    Ok(stats) => {
                        outcome = Some(Ok(stats));
                        Ok(())
                    }
                    Err(ExportError::Io(e)) => Err(e),
                    Err(e) => {
                        outcome = Some(Err(e));
                        Err(std::io::Error::other("not written"))
                    }
                });
            match (outcome, written) {
                (Some(Err(e)), _) => return Err(export_error(e)),
                (_, Err(e)) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
                (stats, Ok(())) => stats.and_then(Result::ok).unwrap_or_default(),
            }
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let stats = write(&mut out).map_err(export_error)?;
            std::io::Write::flush(&mut out)?;
            stats
        }
    };
    report(&list, &stats);
    Ok(ExitCode::SUCCESS)
}

/// Usage errors (a category the list lacks, no sinkhole address) exit 64;
/// the others are failures.
fn export_error(e: ExportError) -> anyhow::Error {
    match e {
        ExportError::NoSinkhole(_) | ExportError::UnknownCategory(..) => {
            UsageError(e.to_string()).into()
        }
        e => e.into(),
    }
}

fn rpz_options(args: &Args) -> Result<RpzOptions, UsageError> {
    let zone = DomainName::parse(&args.zone)
        .map_err(|e| UsageError(format!("--zone {:?}: {e}", args.zone)))?;
    let mut actions = BTreeMap::new();
    for (category, action) in args.category_action.iter().cloned() {
        if actions.insert(category.clone(), action).is_some() {
            return Err(UsageError(format!(
                "--category-action {category}: given twice"
            )));
        }
    }
    Ok(RpzOptions {
        zone: format!("{}.", zone.as_str()),
        ttl: args.ttl,
        default_action: args.action,
        actions,
        sinkhole_ipv4: args.sinkhole_ipv4.clone(),
        sinkhole_ipv6: args.sinkhole_ipv6.clone(),
    })
}

/// The list, verified like `ward check` does it (signature, format, the
/// deep index check).
fn open(args: &Args) -> anyhow::Result<Verified<ListArtifact>> {
    match &args.list {
        Some(path) => {
            let trust = load_trust(&args.trust)?;
            list::open_file(path, &trust)
                .and_then(|l| l.deep_check().map(|()| l))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => {
            let key = keys::parse_public(list::DEMO_PUBLIC_KEY)
                .map_err(|e| anyhow::anyhow!("embedded demo key: {e}"))?;
            let trust: TrustedKeys = [key].into_iter().collect();
            list::verify(Bytes::Static(list::DEMO_ARTIFACT), &trust)
                .map_err(|e| anyhow::anyhow!("embedded demo list: {e}"))
        }
    }
}

fn report(list: &ListArtifact, stats: &ExportStats) {
    eprintln!(
        "ward: exported {} rule(s) of list {} serial {}",
        stats.rules,
        list.list_id(),
        list.serial()
    );
    if stats.confidential > 0 {
        eprintln!(
            "ward: left out {} rule(s) of confidential categories: they are keyed hashes and cannot be written in plaintext",
            stats.confidential
        );
    }
    if stats.too_long > 0 {
        eprintln!(
            "ward: left out {} rule(s) whose names are too long to sit under the zone's name",
            stats.too_long
        );
    }
}
