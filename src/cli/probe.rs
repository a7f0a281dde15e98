//! `ward probe`: is this resolver enforcing the list? Used by the ministry
//! on any ISP's resolver, and by ISP engineers on their own.
//!
//! It asks the resolver for the list's canary (`s<serial>.<domain>`,
//! blocked only by a node on that serial or newer) and a random sample of
//! non-confidential entries, reads `CH TXT list.ward.` (ward nodes only),
//! and with `--sni` opens TLS connections carrying those names. Exit code
//! 0: compliant, 2: not compliant, 1: the probe could not run (no list,
//! resolver unreachable).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::{EXIT_NON_COMPLIANT, UsageError, load_trust};
use crate::list::{CANARY_CATEGORY, RuleKind};
use crate::probe::{self, Verdict};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The resolver to probe: IP or IP:PORT (port 53 by default).
    #[arg(long, value_name = "ADDR", value_parser = parse_resolver)]
    resolver: SocketAddr,
    /// The newest published list (its canary and a sample are asked for).
    #[arg(long, value_name = "FILE")]
    list: PathBuf,
    /// Trusted public key(s) for the list.
    #[arg(long, value_name = "PUB", required = true)]
    trust: Vec<PathBuf>,
    /// How many non-confidential entries to sample.
    #[arg(long, value_name = "N", default_value_t = 20)]
    sample: usize,
    /// Also open TLS connections through this address (the path's SNI
    /// filter) with each name as SNI.
    #[arg(long, value_name = "ADDR:PORT")]
    sni: Option<SocketAddr>,
    /// An address that counts as a sinkhole (besides 0.0.0.0, 127.0.0.1,
    /// ::). Repeatable.
    #[arg(long, value_name = "IP")]
    sinkhole: Vec<IpAddr>,
    /// Wait for each answer this long.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_timeout)]
    timeout: Duration,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
    /// Seed of the sample (the default is random).
    #[arg(long, hide = true)]
    seed: Option<u64>,
}

fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("{s:?} is not IP or IP:PORT"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
        return Err("must be between 10ms and 60s".into());
    }
    Ok(d)
}

/// One probed name.
#[derive(Debug, Serialize)]
struct Probed {
    name: String,
    category: String,
    dns: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<Verdict>,
}

/// A channel's summary.
#[derive(Debug, Default, Serialize)]
struct ChannelSummary {
    probed: usize,
    blocked: usize,
    failed: usize,
    /// Blocked / probed (1.0 when nothing was probed).
    share_blocked: f64,
    /// The names not blocked or not answered (all non-confidential).
    not_blocked: Vec<String>,
}

impl ChannelSummary {
    fn of<'a>(verdicts: impl Iterator<Item = (&'a str, &'a Verdict)>) -> Self {
        let mut s = Self::default();
        for (name, v) in verdicts {
            s.probed += 1;
            match v {
                Verdict::Blocked(_) => s.blocked += 1,
                Verdict::Failed(_) => {
                    s.failed += 1;
                    s.not_blocked.push(name.to_owned());
                }
                Verdict::NotBlocked(_) => s.not_blocked.push(name.to_owned()),
            }
        }
        s.share_blocked = if s.probed == 0 {
            1.0
        } else {
            s.blocked as f64 / s.probed as f64
        };
        s
    }
}

#[derive(Debug, Serialize)]
struct Outcome {
    resolver: String,
    compliant: bool,
    /// Why not, one line each.
    reasons: Vec<String>,
    warnings: Vec<String>,
    list_id: String,
    list_serial: u64,
    /// What `CH TXT list.ward.` reports; `null` for a resolver that is not
    /// ward.
    serial_seen: Option<u64>,
    /// The canary of `list_serial`; `null` if the list has none.
    canary: Option<Probed>,
    dns: ChannelSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<ChannelSummary>,
    names: Vec<Probed>,
}

/// SplitMix64: a small, seedable generator for the sample.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.sample > 10_000 {
        return Err(UsageError("--sample: at most 10000".into()).into());
    }
    let trust = load_trust(&args.trust)?;
    let list = crate::update::open_checked(&args.list, &trust)
        .with_context(|| format!("{}", args.list.display()))?;
    let m = list.manifest();
    let serial = m.serial;
    let seed = match args.seed {
        Some(seed) => seed,
        None => {
            // A failed getrandom must not quietly make every probe ask
            // the same names (seed 0).
            let mut b = [0u8; 8];
            getrandom::fill(&mut b)
                .map_err(|e| anyhow::anyhow!("cannot pick a random sample: getrandom: {e}"))?;
            u64::from_le_bytes(b)
        }
    };
    let mut rng = Rng(seed);

    // The canary of this serial, and a reservoir sample of the public
    // entries (the canary category aside).
    let canary_id = m.categories.iter().position(|c| c.name == CANARY_CATEGORY);
    let canary_prefix = format!("s{serial}.");
    let mut canary = None;
    let mut sample: Vec<(String, String)> = Vec::with_capacity(args.sample);
    let mut seen = 0u64;
    list.for_each_plain_rule(|name, kind, category| {
        let Some(info) = m.categories.get(usize::from(category)) else {
            return;
        };
        if Some(usize::from(category)) == canary_id {
            if kind == RuleKind::Exact && name.starts_with(&canary_prefix) {
                canary = Some(name.to_owned());
            }
            return;
        }
        if info.confidential || args.sample == 0 {
            return;
        }
        seen += 1;
        if sample.len() < args.sample {
            sample.push((name.to_owned(), info.name.clone()));
        } else {
            let j = rng.below(seen);
            if let Some(slot) = sample.get_mut(j as usize) {
                *slot = (name.to_owned(), info.name.clone());
            }
        }
    })
    .with_context(|| format!("{}", args.list.display()))?;
    if canary.is_none() && sample.is_empty() {
        // CH TXT alone is the node's word about itself, not a test.
        anyhow::bail!(
            "{}: nothing to probe: the list has no canary for serial {serial} and no public entry was sampled (--sample {}); build the list with --canary-domain or sample its public entries",
            args.list.display(),
            args.sample
        );
    }

    let mut sinkholes = probe::DEFAULT_SINKHOLES.to_vec();
    sinkholes.extend(&args.sinkhole);
    let probe_one = |name: &str, category: &str| Probed {
        name: name.to_owned(),
        category: category.to_owned(),
        dns: probe::probe_dns(args.resolver, name, &sinkholes, args.timeout),
        sni: args
            .sni
            .map(|addr| probe::judge_tls(&probe::tls_handshake(addr, name, args.timeout))),
    };
    let serial_seen = probe::ward_list_serial(args.resolver, args.timeout);
    let canary = canary.map(|c| probe_one(&c, CANARY_CATEGORY));
    let names: Vec<Probed> = sample.iter().map(|(n, c)| probe_one(n, c)).collect();

    let all = || canary.iter().chain(names.iter());
    let (reasons, warnings) = judge(
        args.resolver,
        serial,
        serial_seen.as_ref().map(|(_, s)| *s),
        canary.as_ref(),
        &names,
    )?;
    let dns = ChannelSummary::of(all().map(|p| (p.name.as_str(), &p.dns)));
    let sni = args.sni.map(|_| {
        ChannelSummary::of(all().filter_map(|p| Some((p.name.as_str(), p.sni.as_ref()?))))
    });
    let outcome = Outcome {
        resolver: args.resolver.to_string(),
        compliant: reasons.is_empty(),
        reasons,
        warnings,
        list_id: m.list_id.clone(),
        list_serial: serial,
        serial_seen: serial_seen.map(|(_, s)| s),
        canary,
        dns,
        sni,
        names,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_text(&outcome);
    }
    Ok(if outcome.compliant {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NON_COMPLIANT)
    })
}

/// Why the resolver is not compliant, and warnings; an error when the
/// answers cannot support a verdict either way (exit 1, not 2).
fn judge(
    resolver: SocketAddr,
    serial: u64,
    serial_seen: Option<u64>,
    canary: Option<&Probed>,
    names: &[Probed],
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let all = || canary.into_iter().chain(names.iter());
    let failed = |p: &Probed| matches!(p.dns, Verdict::Failed(_));
    let first_failure = || {
        all().find_map(|p| match &p.dns {
            Verdict::Failed(e) => Some(e.clone()),
            _ => None,
        })
    };
    if all().next().is_none() {
        anyhow::bail!("{resolver}: nothing was probed: the list has no canary and no public entry");
    }
    if serial_seen.is_none() && all().all(failed) {
        let why = first_failure().unwrap_or_default();
        anyhow::bail!("{resolver}: no usable DNS answer: {why}");
    }
    // No canary answer and most of the sample unanswered: the resolver
    // is unreachable or broken, which says nothing about the list.
    let sample_failed = names.iter().filter(|p| failed(p)).count();
    if canary.is_none_or(failed) && (names.is_empty() || sample_failed * 2 > names.len()) {
        let why = first_failure().unwrap_or_default();
        anyhow::bail!(
            "{resolver}: too few DNS answers to judge: the canary {} and {sample_failed} of {} sampled names got no answer ({why})",
            if canary.is_some() {
                "was unanswered"
            } else {
                "is missing"
            },
            names.len()
        );
    }

    let mut reasons = Vec::new();
    if let Some(seen) = serial_seen
        && seen < serial
    {
        reasons.push(format!(
            "the node reports list serial {seen}, older than {serial}"
        ));
    }
    let mut warnings = Vec::new();
    match canary {
        None => warnings.push(format!(
            "the list has no canary for serial {serial} (build it with --canary-domain): whether the node enforces this serial is judged by the sample alone"
        )),
        Some(c) => {
            match &c.dns {
                Verdict::Blocked(_) => {}
                Verdict::NotBlocked(_) => reasons.push(format!(
                    "the canary {} is not blocked over DNS: the node does not enforce serial {serial}",
                    c.name
                )),
                Verdict::Failed(why) => reasons.push(format!(
                    "the canary {} got no answer over DNS ({why}): whether the node enforces serial {serial} is unknown",
                    c.name
                )),
            }
            if c.sni.as_ref().is_some_and(|v| !v.is_blocked()) {
                reasons.push(format!("the canary {} is not blocked over TLS (SNI)", c.name));
            }
        }
    }
    let names_only = |f: &dyn Fn(&Probed) -> bool| names.iter().filter(|p| f(p)).count();
    let dns_missed = names_only(&|p| !p.dns.is_blocked());
    if dns_missed > 0 {
        reasons.push(format!(
            "{dns_missed} of {} sampled names not blocked over DNS",
            names.len()
        ));
    }
    let sni_missed = names_only(&|p| p.sni.as_ref().is_some_and(|v| !v.is_blocked()));
    if sni_missed > 0 {
        reasons.push(format!(
            "{sni_missed} of {} sampled names not blocked over TLS (SNI)",
            names.len()
        ));
    }
    Ok((reasons, warnings))
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Blocked(how) => format!("blocked ({how})"),
        Verdict::NotBlocked(how) => format!("NOT blocked ({how})"),
        Verdict::Failed(why) => format!("FAILED ({why})"),
    }
}

fn print_text(o: &Outcome) {
    println!(
        "resolver {}: {}",
        o.resolver,
        if o.compliant {
            "COMPLIANT"
        } else {
            "NOT COMPLIANT"
        }
    );
    println!(
        "list {} serial {}; the node reports serial {}",
        o.list_id,
        o.list_serial,
        o.serial_seen
            .map_or_else(|| "nothing (not ward?)".to_owned(), |s| s.to_string())
    );
    let channel = |name: &str, s: &ChannelSummary| {
        println!(
            "{name}: {}/{} blocked ({:.0} %), {} failed",
            s.blocked,
            s.probed,
            s.share_blocked * 100.0,
            s.failed
        );
    };
    channel("dns", &o.dns);
    if let Some(sni) = &o.sni {
        channel("sni", sni);
    }
    for p in o.canary.iter().chain(o.names.iter()) {
        let sni = p
            .sni
            .as_ref()
            .map(|v| format!("; sni {}", verdict_text(v)))
            .unwrap_or_default();
        println!(
            "  {} [{}]: dns {}{sni}",
            p.name,
            p.category,
            verdict_text(&p.dns)
        );
    }
    for w in &o.warnings {
        println!("warning: {w}");
    }
    for r in &o.reasons {
        println!("not compliant: {r}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, dns: Verdict) -> Probed {
        Probed {
            name: name.into(),
            category: "c".into(),
            dns,
            sni: None,
        }
    }
    fn blocked(name: &str) -> Probed {
        p(name, Verdict::Blocked("sinkhole".into()))
    }
    fn open(name: &str) -> Probed {
        p(name, Verdict::NotBlocked("1.2.3.4".into()))
    }
    fn failed(name: &str) -> Probed {
        p(name, Verdict::Failed("timeout".into()))
    }
    const R: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 53);

    #[test]
    fn nothing_probed_is_an_error_not_a_self_report() {
        let e = judge(R, 2, Some(2), None, &[]).unwrap_err();
        assert!(e.to_string().contains("nothing was probed"), "{e}");
    }

    #[test]
    fn an_unanswered_canary_is_not_called_unenforced() {
        let names = [blocked("a"), blocked("b"), failed("c")];
        let (reasons, _) = judge(R, 2, Some(2), Some(&failed("s2.canary")), &names).unwrap();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("got no answer"), "{reasons:?}");
        assert!(!reasons[0].contains("does not enforce"), "{reasons:?}");
        // An answered, unblocked canary is still a verdict.
        let (reasons, _) = judge(R, 2, Some(2), Some(&open("s2.canary")), &names).unwrap();
        assert!(
            reasons[0].contains("does not enforce serial 2"),
            "{reasons:?}"
        );
    }

    #[test]
    fn failures_that_dominate_are_an_error() {
        let names = [blocked("a"), failed("b"), failed("c")];
        let e = judge(R, 2, Some(2), Some(&failed("s2.canary")), &names).unwrap_err();
        assert!(e.to_string().contains("too few DNS answers"), "{e}");
        let e = judge(R, 2, Some(2), Some(&failed("s2.canary")), &[]).unwrap_err();
        assert!(e.to_string().contains("too few DNS answers"), "{e}");
        let e = judge(R, 2, Some(2), None, &names).unwrap_err();
        assert!(e.to_string().contains("too few DNS answers"), "{e}");
        // A blocked canary is an answer: the failures are reasons.
        let (reasons, _) = judge(R, 2, Some(2), Some(&blocked("s2.canary")), &names).unwrap();
        assert_eq!(reasons, ["2 of 3 sampled names not blocked over DNS"]);
    }
}
