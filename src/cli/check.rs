//! `ward check`: the operator's question: is this name blocked, and why?
//!
//! One verdict per name, in argument order, against a list artifact
//! (`--list`/`--trust`, `--demo`), or with `--config` against everything
//! the node would enforce: the national list as `ward serve` would pick it
//! from disk, every `[[lists]]` entry, and the profile a client gets
//! (`--client`) or one named (`--profile`); then each list is shown with
//! what it says ([`policy::explain`]).
//!
//! A name blocked by a confidential category is never echoed: it is shown
//! as a keyed hash under the list's salt, and its rule as `null`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ipnet::IpNet;

mod bypass;

use super::{UsageError, load_trust};
use crate::config::Config;
use crate::domain::{DomainName, NameKey};
use crate::keys;
use crate::list::{self, Bytes, ListArtifact, Match, RuleKind, TrustedKeys};
use crate::metrics::Metrics;
use crate::policy::{
    self, Block, Context, Explanation, ListRef, Outcome, Profile, Rating, Verdict,
};
use crate::profiles::{ProfileSettings, Profiles};
use crate::update::ListSource;

mod safe_search;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The list artifact to check against.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["demo", "config"],
        requires = "trust"
    )]
    list: Option<PathBuf>,
    /// Trusted public key(s) for the list.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// Use the embedded demo list and key instead of --list/--trust.
    #[arg(long, conflicts_with_all = ["list", "trust"])]
    demo: bool,
    /// Check against what a node with this config enforces: the national
    /// list it would load from disk, its [[lists]] and its profiles.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["list", "trust", "demo"])]
    config: Option<PathBuf>,
    /// With --config: the client address whose profile applies (the most
    /// specific `clients` network, as the node selects it).
    #[arg(
        long,
        value_name = "IP",
        requires = "config",
        conflicts_with = "profile"
    )]
    client: Option<IpAddr>,
    /// With --config: the profile to apply, by name.
    #[arg(long, value_name = "NAME", requires = "config")]
    profile: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Names to check.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // clap skips `requires` when the required argument conflicts with one
    // that is present (`--demo`, `--list`), so this is checked here.
    if args.config.is_none() && (args.client.is_some() || args.profile.is_some()) {
        return Err(UsageError("--client and --profile need --config FILE".into()).into());
    }
    if let Some(path) = &args.config {
        let node = NodeView::load(path)?;
        let chosen = node.choose(args.client, args.profile.as_deref(), path)?;
        return check_names(&args.names, |name, key| {
            node.explained(&chosen, name, key, args.json)
        });
    }
    let list = match &args.list {
        Some(path) => {
            let trust = load_trust(&args.trust)?;
            list::open_file(path, &trust)
                .and_then(|l| l.deep_check().map(|()| l))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => {
            let key = keys::parse_public(list::DEMO_PUBLIC_KEY)
                .map_err(|e| anyhow::anyhow!("embedded demo key: {e}"))?;
            let trust: TrustedKeys = [key].into_iter().collect();
            list::verify(Bytes::Static(list::DEMO_ARTIFACT), &trust)
                .map_err(|e| anyhow::anyhow!("embedded demo list: {e}"))?
        }
    };
    if let Err(e) = list.check_expiry(jiff::Timestamp::now()) {
        eprintln!("ward: warning: {e}; verdicts below are from the expired list");
    }
    check_names(&args.names, |name, key| {
        verdict(&list, name, key, args.json)
    })
}

/// Prints `render`'s line for each valid name; an invalid one is reported
/// on stderr (exit 1, or 64 when every name is invalid).
fn check_names(
    names: &[String],
    render: impl Fn(&DomainName, &NameKey) -> String,
) -> anyhow::Result<ExitCode> {
    let mut invalid = 0usize;
    for raw in names {
        // DomainName says precisely what is wrong with a name; the key is
        // the one every enforcement point uses.
        let checked = DomainName::parse(raw)
            .map_err(|e| e.to_string())
            .and_then(|name| {
                policy::key_of_text(name.as_str().as_bytes())
                    .map(|key| (name, key))
                    .map_err(|problem| format!("{problem:?}"))
            });
        let (name, key) = match checked {
            Ok(pair) => pair,
            Err(e) => {
                invalid += 1;
                eprintln!("ward: {raw:?}: not a valid domain name: {e}");
                continue;
            }
        };
        println!("{}", render(&name, &key));
    }
    if invalid > 0 {
        if invalid == names.len() {
            return Err(UsageError(format!("{invalid} invalid name(s)")).into());
        }
        return Ok(ExitCode::from(super::EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders the verdict of [`policy::decide`] on one name.
fn verdict(list: &ListArtifact, name: &DomainName, key: &NameKey, json: bool) -> String {
    let block = policy::decide(list, key, &Context::NONE).block();
    let m = block.map(|b| b.rule);
    let shown = match block {
        Some(b) if b.confidential() => format!("confidential:{}", list.redacted(key)),
        _ => name.to_string(),
    };
    let category = block.map(|b| b.category_name(list).to_owned());
    let rule = m.and_then(|m| list.rule_text(key, &m));
    let kind = m.map(|m| match m.kind {
        RuleKind::Exact => "exact",
        RuleKind::Subtree => "subtree",
    });
    if json {
        serde_json::json!({
            "name": shown,
            "verdict": if m.is_some() { "block" } else { "allow" },
            "category": category,
            "rule": rule,
            "kind": kind,
            "confidential": m.is_some_and(|m| m.confidential),
            "list_serial": list.serial(),
            "list_id": list.list_id(),
        })
        .to_string()
    } else {
        match m {
            Some(m) => {
                let scope = match m.kind {
                    RuleKind::Exact => "this name only",
                    RuleKind::Subtree => "name and subdomains",
                };
                format!(
                    "{shown}\tblock\tcategory={} rule=\"{}\" ({scope}) list={} serial={}",
                    category.unwrap_or_default(),
                    rule.unwrap_or_else(|| "(confidential)".into()),
                    list.list_id(),
                    list.serial()
                )
            }
            None => format!(
                "{shown}\tallow\tlist={} serial={}",
                list.list_id(),
                list.serial()
            ),
        }
    }
}

/// What a node with a config enforces, loaded as `ward serve` would load
/// it, without binding, fetching or writing anything.
struct NodeView {
    national: list::Verified<ListArtifact>,
    profiles: Profiles,
    settings: Vec<ProfileSettings>,
}

/// The profile a check applies, and why.
enum Chosen<'a> {
    /// None: the national list alone.
    Nothing { why: String },
    /// Selected by the client's address, as the node selects it.
    Client {
        profile: &'a Profile,
        client: IpAddr,
        /// The most specific of the profile's networks holding the client.
        network: Option<IpNet>,
    },
    /// Named with `--profile`.
    Named(&'a Profile),
}

impl Chosen<'_> {
    fn profile(&self) -> Option<&Profile> {
        match self {
            Self::Nothing { .. } => None,
            Self::Client { profile, .. } | Self::Named(profile) => Some(profile),
        }
    }

    /// Why this profile (or none) applies, in words.
    fn why(&self) -> String {
        match self {
            Self::Nothing { why } => why.clone(),
            Self::Client {
                client, network, ..
            } => match network {
                Some(net) => format!("client {client} is in {net}"),
                None => format!("client {client}"),
            },
            Self::Named(_) => "--profile".to_owned(),
        }
    }
}

/// What one list says about a name, for rendering.
struct Row<'a> {
    /// `national`, or the `[[lists]]` name.
    name: &'a str,
    /// `None`: the list never loaded.
    list: Option<&'a ListArtifact>,
    /// The rule that matched and how it is rated (`None` for the national
    /// list: all of it is mandatory).
    found: Option<(Block, Option<Rating>)>,
    /// The profile's allow file lifts this list's block.
    lifted: bool,
}

impl Row<'_> {
    fn blocks(&self) -> bool {
        self.found
            .is_some_and(|(_, rating)| rating.is_none_or(Rating::blocks))
    }
}

impl NodeView {
    fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let config = Config::load(path).map_err(|errors| {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            UsageError(format!("{} error(s) in {}", errors.0.len(), path.display()))
        })?;
        let metrics = Metrics::new();
        let national = ListSource::peek(&config.list, metrics.list())
            .map_err(|e| anyhow::anyhow!("the national list ([list]): {e}"))?;
        if let Err(e) = national.check_expiry(jiff::Timestamp::now()) {
            eprintln!("ward: warning: {e}; verdicts below are from the expired list");
        }
        let now = crate::profiles::now_in(&config.node.time_zone);
        let profiles = crate::update::extra::load_profiles(&config.lists, &config.profiles, &now)
            .map_err(|overlaps| {
            let text: Vec<String> = overlaps.iter().map(ToString::to_string).collect();
            UsageError(format!("[[profile]]: {}", text.join("; ")))
        })?;
        Ok(Self {
            national,
            profiles,
            settings: config.profiles,
        })
    }

    /// The profile `--profile NAME` names, or the one `--client IP` gets.
    fn choose(
        &self,
        client: Option<IpAddr>,
        name: Option<&str>,
        path: &std::path::Path,
    ) -> Result<Chosen<'_>, UsageError> {
        if let Some(name) = name {
            return self
                .profiles
                .by_name(name)
                .map(Chosen::Named)
                .ok_or_else(|| {
                    let names: Vec<&str> = self.settings.iter().map(|p| p.name.as_str()).collect();
                    if names.is_empty() {
                        UsageError(format!(
                            "unknown profile {name:?}: {} has no [[profile]]",
                            path.display()
                        ))
                    } else {
                        UsageError(format!(
                            "unknown profile {name:?}; the profiles in {} are {}",
                            path.display(),
                            names.join(", ")
                        ))
                    }
                });
        }
        let Some(client) = client else {
            return Ok(Chosen::Nothing {
                why: "no profile: national list only (no --client or --profile)".to_owned(),
            });
        };
        let Some(profile) = self.profiles.select(client) else {
            return Ok(Chosen::Nothing {
                why: format!(
                    "no profile: national list only (client {client} is in no profile's clients)"
                ),
            });
        };
        let addr = client.to_canonical();
        let network = self
            .settings
            .iter()
            .find(|s| s.name == profile.name)
            .and_then(|s| {
                s.clients
                    .iter()
                    .filter(|n| n.contains(&addr))
                    .max_by_key(|n| n.prefix_len())
                    .copied()
            });
        Ok(Chosen::Client {
            profile,
            client,
            network,
        })
    }

    /// The name of a list a block or finding refers to.
    fn list_name(&self, list: ListRef) -> &str {
        match list {
            ListRef::Garden => policy::GARDEN_NAME,
            ListRef::National => "national",
            ListRef::Extra(i) => self.profiles.list(i).map_or("?", |l| l.name.as_str()),
        }
    }

    fn artifact(&self, list: ListRef) -> Option<&ListArtifact> {
        match list {
            ListRef::Garden => None,
            ListRef::National => Some(&self.national),
            ListRef::Extra(i) => self
                .profiles
                .list(i)
                .and_then(|l| l.list.as_deref())
                .map(|a| &**a),
        }
    }

    /// Every list's finding, national first.
    fn rows<'a>(&'a self, e: &Explanation) -> Vec<Row<'a>> {
        let mut rows = vec![Row {
            name: "national",
            list: Some(&self.national),
            found: e.national.map(|b| (b, None)),
            lifted: false,
        }];
        for finding in &e.lists {
            let at = ListRef::Extra(finding.index);
            let found = match finding.outcome {
                Outcome::Match { block, rating } => Some((block, Some(rating))),
                Outcome::Unloaded | Outcome::NoMatch => None,
            };
            let mut row = Row {
                name: self.list_name(at),
                list: match finding.outcome {
                    Outcome::Unloaded => None,
                    _ => self.artifact(at),
                },
                found,
                lifted: false,
            };
            row.lifted = e.allowed && row.blocks();
            rows.push(row);
        }
        rows
    }

    /// One name's verdict with every list's finding, as text or JSON.
    fn explained(
        &self,
        chosen: &Chosen<'_>,
        name: &DomainName,
        key: &NameKey,
        json: bool,
    ) -> String {
        let profile = chosen.profile();
        let e = policy::explain(&self.national, profile, key);
        let verdict = e.verdict();
        let rows = self.rows(&e);
        // A confidential match anywhere hides the name and every rule
        // text (a rule could spell the name out).
        let secret = rows.iter().find_map(|r| match (r.found, r.list) {
            (Some((b, _)), Some(list)) if b.confidential() => Some(list),
            _ => None,
        });
        let shown = match secret {
            Some(list) => format!("confidential:{}", list.redacted(key)),
            None => name.to_string(),
        };
        let rule_text = |list: &ListArtifact, m: &Match| {
            if secret.is_some() {
                None
            } else {
                list.rule_text(key, m)
            }
        };
        // A name the lists allow may still be one the profile sends to a
        // safe-search host.
        let rewrite = match verdict {
            Ok(Verdict::Allow) => profile.and_then(|p| p.safe_search(key.as_bytes())),
            _ => None,
        };
        if json {
            let line = self.json_line(chosen, &e, verdict, &rows, &shown, &rule_text);
            safe_search::json(line, profile.zip(rewrite))
        } else {
            let text = self.text_lines(chosen, &e, verdict, &rows, &shown, &rule_text);
            safe_search::text(text, profile.zip(rewrite))
        }
    }

    /// [`Self::explained`] as text: the verdict line, then one line per
    /// list.
    fn text_lines(
        &self,
        chosen: &Chosen<'_>,
        e: &Explanation,
        verdict: Result<Verdict, policy::Unloaded>,
        rows: &[Row<'_>],
        shown: &str,
        rule_text: &dyn Fn(&ListArtifact, &Match) -> Option<String>,
    ) -> String {
        let profile = chosen.profile();
        let mut out = format!("{shown}\t{}", verdict_word(verdict));
        match verdict {
            Ok(Verdict::Block(b)) if b.list == ListRef::Garden => {
                out.push_str("\toutside the walled garden: the profile's mode is allow_only and its allow file does not cover the name");
            }
            Ok(Verdict::Block(b)) => {
                let category = self
                    .artifact(b.list)
                    .map_or("unknown", |l| b.category_name(l));
                let _ = write!(out, "\tlist={} category={category}", self.list_name(b.list));
                if let Some(text) = decided_schedule(rows, &b)
                    .zip(profile)
                    .and_then(|(w, p)| schedule_text(p, w))
                {
                    let _ = write!(out, " (scheduled: {text})");
                }
            }
            Err(u) => {
                let _ = write!(
                    out,
                    "\tcannot decide: list {} not loaded (the node answers SERVFAIL)",
                    self.list_name(ListRef::Extra(u.index))
                );
            }
            Ok(Verdict::Allow) => {}
        }
        if let Some(hit) = bypass::answered(e) {
            out = format!("{shown}\t{}", bypass::verdict_text(hit));
        }
        match profile {
            Some(p) => {
                let _ = write!(
                    out,
                    "\tprofile {} (age {}{}): {}",
                    p.name,
                    p.age,
                    if p.is_allow_only() {
                        ", mode allow_only"
                    } else {
                        ""
                    },
                    chosen.why()
                );
            }
            None => {
                let _ = write!(out, "\t{}", chosen.why());
            }
        }
        for row in rows {
            let _ = write!(out, "\n  {}", row.name);
            let Some(list) = row.list else {
                let _ = write!(
                    out,
                    ": cannot decide: list {} not loaded (the node answers SERVFAIL, EDE 14, for names no other list blocks)",
                    row.name
                );
                continue;
            };
            let _ = write!(out, " (list {} serial {}): ", list.list_id(), list.serial());
            let Some((block, rating)) = row.found else {
                out.push_str("no rule");
                continue;
            };
            let what = match (row.blocks(), row.lifted) {
                (true, false) => "blocks",
                (true, true) => "would block, but the profile's allow file lifts it",
                (false, _) => "does not block",
            };
            let scope = match block.rule.kind {
                RuleKind::Exact => "this name only",
                RuleKind::Subtree => "name and subdomains",
            };
            let rule = rule_text(list, &block.rule).unwrap_or_else(|| "(confidential)".into());
            let category = block.category_name(list);
            let why = if bypass::forces(profile, &self.settings, category, rating) {
                bypass::forced_text(rating, profile.map(|p| p.age))
            } else {
                rating_text(rating, profile)
            };
            let _ = write!(
                out,
                "{what}: {} rule \"{rule}\" ({scope}), category {category}, {why}",
                kind_word(block.rule.kind),
            );
        }
        if e.allowed {
            out.push_str("\n  allow file: covers the name; it lifts the profile's own lists, never the national list");
        }
        if e.outside_garden {
            out.push_str("\n  walled garden (mode allow_only): the allow file does not cover the name, so it is blocked (EDE 17) whatever the lists say");
        }
        out
    }

    fn json_line(
        &self,
        chosen: &Chosen<'_>,
        e: &Explanation,
        verdict: Result<Verdict, policy::Unloaded>,
        rows: &[Row<'_>],
        shown: &str,
        rule_text: &dyn Fn(&ListArtifact, &Match) -> Option<String>,
    ) -> String {
        let profile = chosen.profile();
        let age = profile.map(|p| p.age);
        let decided = verdict.ok().and_then(Verdict::block);
        let schedule = decided
            .and_then(|b| decided_schedule(rows, &b))
            .zip(profile)
            .and_then(|(w, p)| schedule_json(p, w));
        let decided_list = decided.and_then(|b| self.artifact(b.list));
        let lists: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                let found = row.found.zip(row.list);
                serde_json::json!({
                    "list": row.name,
                    "loaded": row.list.is_some(),
                    "list_id": row.list.map(ListArtifact::list_id),
                    "serial": row.list.map(ListArtifact::serial),
                    "match": found.is_some(),
                    "blocks": row.blocks() && !row.lifted,
                    "rule": found.and_then(|((b, _), l)| rule_text(l, &b.rule)),
                    "kind": found.map(|((b, _), _)| kind_word(b.rule.kind)),
                    "category": found.map(|((b, _), l)| b.category_name(l)),
                    "confidential": found.is_some_and(|((b, _), _)| b.confidential()),
                    "min_age": found.and_then(|((b, _), l)| b.category_info(l).and_then(|c| c.min_age)),
                    "rating": row.found.map(|(_, r)| rating_word(r)),
                    "lifted_by_allow": row.lifted,
                })
            })
            .collect();
        let (selected_by, network) = match chosen {
            Chosen::Nothing { .. } => (None, None),
            Chosen::Client { network, .. } => (Some("client"), network.map(|n| n.to_string())),
            Chosen::Named(_) => (Some("--profile"), None),
        };
        let answered = bypass::answered(e);
        serde_json::json!({
            "name": shown,
            "verdict": if answered.is_some() { "bypass" } else { verdict_word(verdict) },
            "bypass": bypass::json(answered),
            "category": decided.zip(decided_list).map(|(b, l)| b.category_name(l)),
            "rule": decided.zip(decided_list).and_then(|(b, l)| rule_text(l, &b.rule)),
            "kind": decided.map(|b| kind_word(b.rule.kind)),
            "confidential": decided.is_some_and(|b| b.confidential()),
            "list_serial": self.national.serial(),
            "list_id": self.national.list_id(),
            "decided_by": decided.map(|b| self.list_name(b.list)),
            "unloaded": verdict.err().map(|u| self.list_name(ListRef::Extra(u.index))),
            "profile": profile.map(|p| p.name.as_str()),
            "age": age,
            "selected_by": selected_by,
            "network": network,
            "selection": chosen.why(),
            "allow_file": e.allowed,
            "mode": profile.map(|p| if p.is_allow_only() { "allow_only" } else { "deny" }),
            "outside_garden": e.outside_garden,
            "schedule": schedule,
            "lists": lists,
        })
        .to_string()
    }
}

fn verdict_word(v: Result<Verdict, policy::Unloaded>) -> &'static str {
    match v {
        Ok(Verdict::Allow) => "allow",
        Ok(Verdict::Block(_)) => "block",
        Err(_) => "servfail",
    }
}

fn kind_word(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Exact => "exact",
        RuleKind::Subtree => "subtree",
    }
}

/// The rating as a JSON word; `None` is the national list's.
fn rating_word(rating: Option<Rating>) -> &'static str {
    match rating {
        None => "mandatory",
        Some(Rating::Fault) => "index_fault",
        Some(Rating::Unknown) => "unknown_category",
        Some(Rating::Unrated) => "unrated",
        Some(Rating::TooYoung { .. }) => "too_young",
        Some(Rating::BlockCategories { .. }) => "block_categories",
        Some(Rating::OldEnough { .. }) => "old_enough",
        Some(Rating::Scheduled { .. }) => "scheduled",
    }
}

/// The schedule window (by place) that makes the deciding row's block,
/// if a schedule made it.
fn decided_schedule(rows: &[Row<'_>], decided: &Block) -> Option<u16> {
    rows.iter().find_map(|r| match r.found {
        Some((b, Some(Rating::Scheduled { window, .. }))) if b == *decided && !r.lifted => {
            Some(window)
        }
        _ => None,
    })
}

/// `schedule[0] (mon,tue 07:00-11:30) blocks it until Mon 2025-03-03
/// 11:30 Asia/Ho_Chi_Minh`.
fn schedule_text(profile: &Profile, window: u16) -> Option<String> {
    let open = profile.open_windows().iter().find(|o| o.index == window)?;
    let until = open.until.as_ref().map_or_else(
        || "its end".to_owned(),
        |u| u.strftime("%a %Y-%m-%d %H:%M %Q").to_string(),
    );
    Some(format!(
        "schedule[{window}] ({}) blocks it until {until}",
        open.window.describe()
    ))
}

fn schedule_json(profile: &Profile, window: u16) -> Option<serde_json::Value> {
    let open = profile.open_windows().iter().find(|o| o.index == window)?;
    Some(serde_json::json!({
        "index": window,
        "days": open.window.day_names(),
        "start": policy::schedule::Window::clock(open.window.start),
        "end": policy::schedule::Window::clock(open.window.end),
        "until": open.until.as_ref().map(|u| u.timestamp().to_string()),
    }))
}

/// Why a match blocks for `profile`, or does not.
fn rating_text(rating: Option<Rating>, profile: Option<&Profile>) -> String {
    let age = profile.map_or_else(|| "?".to_owned(), |p| p.age.to_string());
    match rating {
        None => "mandatory (national list: no profile setting lifts it)".to_owned(),
        Some(Rating::Fault) => "the list's index faulted: blocked, fail closed".to_owned(),
        Some(Rating::Unknown) => "a category the manifest lacks: blocked, fail closed".to_owned(),
        Some(Rating::Unrated) => "no age rating: blocks at every age".to_owned(),
        Some(Rating::TooYoung { min_age }) => format!("rated {min_age}+, profile age {age}"),
        Some(Rating::BlockCategories { min_age }) => {
            format!("rated {min_age}+, profile age {age}, but listed in block_categories")
        }
        Some(Rating::OldEnough { min_age }) => format!("rated {min_age}+, profile age {age}"),
        Some(Rating::Scheduled { min_age, window }) => {
            let by = profile
                .and_then(|p| schedule_text(p, window))
                .unwrap_or_else(|| format!("schedule[{window}] blocks it now"));
            format!("rated {min_age}+, profile age {age}, but {by}")
        }
    }
}
