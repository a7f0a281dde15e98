//! `ward probe`: is this resolver enforcing the list? Used by the ministry
//! on any ISP's resolver, and by ISP engineers on their own.
//!
//! It asks the resolver for the list's canary (`s<serial>.<domain>`,
//! blocked only by a node on that serial or newer) and a random sample of
//! non-confidential entries, reads `CH TXT list.ward.` (ward nodes only),
//! and with `--sni` opens TLS connections carrying those names. Exit code
//! 0: compliant, 2: not compliant, 1: the probe could not run (no list,
//! resolver unreachable).
//!
//! With `--report-to URL` the result (`ward-probe-result/1`,
//! [`crate::probe::result`]) is signed with the prober's key, spooled in
//! `--spool-dir` and POSTed to the collector ([`crate::probe::deliver`]);
//! the exit code stays the probe's whatever the delivery did.

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
    /// Sign the result and POST it to this collector URL (https://…/v1/probes).
    #[arg(long, value_name = "URL")]
    report_to: Option<String>,
    /// The prober's secret key (`ward keygen`), registered as a
    /// `[[prober]]` with the collector.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The prober's id, as registered.
    #[arg(long, value_name = "ID")]
    prober_id: Option<String>,
    /// The ISP whose resolver this is.
    #[arg(long, value_name = "ISP_ID")]
    isp: Option<String>,
    /// The node answering at --resolver, if known.
    #[arg(long, value_name = "NODE_ID")]
    node: Option<String>,
    /// Extra CA certificates (PEM) to trust for --report-to.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Where results wait until the collector has them; sent first on
    /// the next run.
    #[arg(long, value_name = "DIR")]
    spool_dir: Option<PathBuf>,
}

/// What `--report-to` needs, checked before anything is probed.
struct Reporting {
    sender: crate::report::send::Sender,
    key: ed25519_dalek::SigningKey,
    prober_id: String,
    isp_id: String,
    node_id: Option<String>,
    spool_dir: PathBuf,
}

/// Checks the `--report-to` flags together (usage errors exit 64), reads
/// the key and sets up the HTTPS client.
fn reporting(args: &Args) -> anyhow::Result<Option<Reporting>> {
    let Some(url) = &args.report_to else {
        let stray = [
            ("--key", args.key.is_some()),
            ("--prober-id", args.prober_id.is_some()),
            ("--isp", args.isp.is_some()),
            ("--node", args.node.is_some()),
            ("--ca-file", args.ca_file.is_some()),
            ("--spool-dir", args.spool_dir.is_some()),
        ];
        if let Some((flag, _)) = stray.iter().find(|(_, given)| *given) {
            return Err(UsageError(format!("{flag} is only used with --report-to URL")).into());
        }
        return Ok(None);
    };
    let need = |flag: &str, v: Option<&String>| {
        v.cloned()
            .ok_or_else(|| UsageError(format!("--report-to needs {flag}")))
    };
    let url = reqwest::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host().is_some())
        .ok_or_else(|| {
            UsageError(format!(
                "--report-to {url:?}: not an https:// URL (the collector's …/v1/probes)"
            ))
        })?;
    let key_path = args
        .key
        .clone()
        .ok_or_else(|| UsageError("--report-to needs --key (the prober's .key file)".into()))?;
    let prober_id = need("--prober-id", args.prober_id.as_ref())?;
    let isp_id = need(
        "--isp (the ISP whose resolver is probed)",
        args.isp.as_ref(),
    )?;
    let spool_dir = args.spool_dir.clone().ok_or_else(|| {
        UsageError(
            "--report-to needs --spool-dir (where a result waits if the collector cannot take it)"
                .into(),
        )
    })?;
    for (flag, v) in [
        ("--prober-id", Some(&prober_id)),
        ("--isp", Some(&isp_id)),
        ("--node", args.node.as_ref()),
    ] {
        if let Some(v) = v
            && !probe::result::is_identifier(v)
        {
            return Err(UsageError(format!(
                "{flag} {v:?}: use 1 to {} letters, digits, '.', '_' or '-', as registered",
                probe::result::MAX_ID_LEN
            ))
            .into());
        }
    }
    let key = crate::keys::read_secret(&key_path)
        .with_context(|| format!("--key {}", key_path.display()))?;
    let ca = (args.ca_file.as_deref())
        .map(crate::readers::CaBundle::read)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--report-to: {e}"))?;
    let sender = crate::report::send::Sender::new(url, ca.as_ref(), key.clone())
        .map_err(|e| anyhow::anyhow!("--report-to: {e}"))?;
    Ok(Some(Reporting {
        sender,
        key,
        prober_id,
        isp_id,
        node_id: args.node.clone(),
        spool_dir,
    }))
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
    fn to_channel(&self) -> probe::result::Channel {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        probe::result::Channel {
            probed: n(self.probed),
            blocked: n(self.blocked),
            failed: n(self.failed),
            not_blocked: self.not_blocked.clone(),
        }
    }

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
    let reporting = reporting(&args)?;
    let trust = load_trust(&args.trust)?;
    let list = crate::update::open_checked(&args.list, &trust)
        .with_context(|| format!("{}", args.list.display()))?;
    let m = list.manifest();
    let serial = m.serial;
    let mut rng = Rng(sample_seed(args.seed)?);
    let picked =
        pick(&list, args.sample, &mut rng).with_context(|| format!("{}", args.list.display()))?;
    if picked.canary.is_none() && picked.sample.is_empty() {
        // CH TXT alone is the node's word about itself, not a test.
        anyhow::bail!(
            "{}: nothing to probe: the list has no canary for serial {serial} and no public entry was sampled (--sample {}); build the list with --canary-domain or sample its public entries",
            args.list.display(),
            args.sample
        );
    }

    let probes = probe_picked(&args, &picked);
    let judged = judge(
        args.resolver,
        serial,
        probes.serial_seen,
        probes.canary.as_ref(),
        &probes.names,
    );
    let dns = ChannelSummary::of(probes.all().map(|p| (p.name.as_str(), &p.dns)));
    let sni = args.sni.map(|_| {
        ChannelSummary::of(
            probes
                .all()
                .filter_map(|p| Some((p.name.as_str(), p.sni.as_ref()?))),
        )
    });
    if let Some(r) = &reporting {
        let result = probe_result(r, args.resolver, m, &probes, &judged, &dns, sni.as_ref());
        report_result(r, &result);
    }
    let (reasons, warnings) = judged?;
    let outcome = Outcome {
        resolver: args.resolver.to_string(),
        compliant: reasons.is_empty(),
        reasons,
        warnings,
        list_id: m.list_id.clone(),
        list_serial: serial,
        serial_seen: probes.serial_seen,
        canary: probes.canary,
        dns,
        sni,
        names: probes.names,
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

/// The sample's seed: `--seed`, or a random one.
fn sample_seed(seed: Option<u64>) -> anyhow::Result<u64> {
    if let Some(seed) = seed {
        return Ok(seed);
    }
    // A failed getrandom must not quietly make every probe ask the same
    // names (seed 0).
    let mut b = [0u8; 8];
    getrandom::fill(&mut b)
        .map_err(|e| anyhow::anyhow!("cannot pick a random sample: getrandom: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

/// The names to ask for: the canary of the list's serial, and a sample of
/// public entries as (name, category).
#[derive(Debug)]
struct Picked {
    canary: Option<String>,
    sample: Vec<(String, String)>,
}

/// Finds the canary of this serial and takes a reservoir sample of
/// `size` public entries (the canary category aside).
fn pick(
    list: &crate::list::ListArtifact,
    size: usize,
    rng: &mut Rng,
) -> Result<Picked, crate::list::VerifyError> {
    let m = list.manifest();
    let canary_id = m.categories.iter().position(|c| c.name == CANARY_CATEGORY);
    let canary_prefix = format!("s{}.", m.serial);
    let mut picked = Picked {
        canary: None,
        sample: Vec::with_capacity(size),
    };
    let mut seen = 0u64;
    list.for_each_plain_rule(|name, kind, category| {
        let Some(info) = m.categories.get(usize::from(category)) else {
            return;
        };
        if Some(usize::from(category)) == canary_id {
            if kind == RuleKind::Exact && name.starts_with(&canary_prefix) {
                picked.canary = Some(name.to_owned());
            }
            return;
        }
        if info.confidential || size == 0 {
            return;
        }
        seen += 1;
        if picked.sample.len() < size {
            picked.sample.push((name.to_owned(), info.name.clone()));
        } else {
            let j = rng.below(seen);
            if let Some(slot) = picked.sample.get_mut(j as usize) {
                *slot = (name.to_owned(), info.name.clone());
            }
        }
    })?;
    Ok(picked)
}

/// What the resolver (and the SNI path) answered.
struct Probes {
    probed_at: jiff::Timestamp,
    /// What `CH TXT list.ward.` reports.
    serial_seen: Option<u64>,
    canary: Option<Probed>,
    names: Vec<Probed>,
}

impl Probes {
    /// The canary first, then the sample.
    fn all(&self) -> impl Iterator<Item = &Probed> {
        self.canary.iter().chain(self.names.iter())
    }
}

/// Asks for the node's serial, then probes the canary and each sampled
/// name over DNS (and TLS with `--sni`).
fn probe_picked(args: &Args, picked: &Picked) -> Probes {
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
    let probed_at = jiff::Timestamp::now();
    let serial_seen = probe::ward_list_serial(args.resolver, args.timeout).map(|(_, s)| s);
    let canary = picked
        .canary
        .as_ref()
        .map(|c| probe_one(c, CANARY_CATEGORY));
    let names = picked.sample.iter().map(|(n, c)| probe_one(n, c)).collect();
    Probes {
        probed_at,
        serial_seen,
        canary,
        names,
    }
}

/// The result sent with `--report-to`: the verdict, or why there is none.
fn probe_result(
    r: &Reporting,
    resolver: SocketAddr,
    m: &crate::list::Manifest,
    probes: &Probes,
    judged: &anyhow::Result<(Vec<String>, Vec<String>)>,
    dns: &ChannelSummary,
    sni: Option<&ChannelSummary>,
) -> probe::result::ProbeResult {
    let (compliant, reasons) = match judged {
        Ok((reasons, _)) => (Some(reasons.is_empty()), reasons.clone()),
        Err(e) => (None, vec![format!("{e:#}")]),
    };
    probe::result::ProbeResult {
        format: probe::result::FORMAT.to_owned(),
        probe_id: probe::result::probe_id(&r.prober_id, &resolver.to_string(), probes.probed_at),
        prober_id: r.prober_id.clone(),
        isp_id: r.isp_id.clone(),
        node_id: r.node_id.clone(),
        resolver: resolver.to_string(),
        probed_at: probes.probed_at,
        list_id: m.list_id.clone(),
        list_serial: m.serial,
        serial_seen: probes.serial_seen,
        compliant,
        reasons,
        canary: probes.canary.as_ref().map(|c| probe::result::Canary {
            name: c.name.clone(),
            dns: (&c.dns).into(),
            sni: c.sni.as_ref().map(Into::into),
        }),
        dns: dns.to_channel(),
        sni: sni.map(ChannelSummary::to_channel),
    }
}

/// Signs `result`, spools it, and delivers everything spooled. Never
/// fails the probe: problems are printed to stderr (the result stays in
/// the spool unless the collector refused it).
fn report_result(r: &Reporting, result: &probe::result::ProbeResult) {
    use probe::deliver;
    let body = result.to_bytes();
    let signed = deliver::Signed {
        probe_id: result.probe_id.clone(),
        signature: crate::report::send::sign_in(
            crate::report::send::PROBE_SIGNATURE_CONTEXT,
            &r.key,
            &body,
        ),
        body,
    };
    let name = deliver::file_name(result.probed_at, &result.probe_id);
    if let Err(e) = deliver::spool(&r.spool_dir, &name, &signed) {
        // Not spooled: still try to send it directly, once.
        eprintln!("error: probe result {}: {e}", result.probe_id);
    }
    let url = r.sender.url().clone();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "error: cannot deliver the probe result to {url}: {e}; it stays in {} for the next run",
                r.spool_dir.display()
            );
            return;
        }
    };
    let delivery = runtime.block_on(async {
        if r.spool_dir.join(&name).exists() {
            deliver::flush(&r.sender, &r.spool_dir).await
        } else {
            let sent = r
                .sender
                .post_signed(
                    Some((deliver::PROBE_ID_HEADER, &signed.probe_id)),
                    &signed.signature,
                    signed.body.clone(),
                )
                .await;
            let mut d = deliver::Delivery::default();
            match sent.result {
                crate::metrics::SendResult::Ok => d.delivered.push(signed.probe_id.clone()),
                _ => {
                    d.failure = Some(sent.detail);
                    d.kept.push(signed.probe_id.clone());
                }
            }
            Ok(d)
        }
    });
    match delivery {
        Ok(d) => {
            for id in &d.delivered {
                eprintln!("probe result {id} delivered to {url}");
            }
            for (id, why) in &d.rejected {
                eprintln!(
                    "error: the collector {url} refused probe result {id}: {why}; kept in {}",
                    r.spool_dir.join("rejected").display()
                );
            }
            if let Some(why) = &d.failure {
                eprintln!(
                    "error: cannot deliver {} probe result(s) to {url}: {why}; kept in {}, sent first on the next run with --report-to",
                    d.kept.len(),
                    r.spool_dir.display()
                );
            }
        }
        Err(e) => eprintln!(
            "error: cannot deliver the probe results in {}: {e}",
            r.spool_dir.display()
        ),
    }
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
    check_judgeable(resolver, serial_seen, canary, names)?;
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
        Some(c) => reasons.extend(canary_reasons(c, serial)),
    }
    reasons.extend(sample_reasons(names));
    Ok((reasons, warnings))
}

/// An error when the answers cannot support a verdict: nothing probed,
/// nothing answered, or too little answered.
fn check_judgeable(
    resolver: SocketAddr,
    serial_seen: Option<u64>,
    canary: Option<&Probed>,
    names: &[Probed],
) -> anyhow::Result<()> {
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
    Ok(())
}

/// What the canary's answers say about serial `serial`.
fn canary_reasons(c: &Probed, serial: u64) -> Vec<String> {
    let mut reasons = Vec::new();
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
        reasons.push(format!(
            "the canary {} is not blocked over TLS (SNI)",
            c.name
        ));
    }
    reasons
}

/// How many sampled names each channel let through.
fn sample_reasons(names: &[Probed]) -> Vec<String> {
    let mut reasons = Vec::new();
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
    reasons
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
mod tests;
