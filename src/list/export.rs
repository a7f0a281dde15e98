//! A verified list in the formats other resolvers read: a Response Policy
//! Zone (BIND, Unbound, PowerDNS Recursor, Knot Resolver), a plain list
//! of domains, or a hosts file.
//!
//! Only plaintext rules can be written: rules of confidential categories
//! are keyed hashes in the artifact and are left out, counted, and the
//! output says so (the zone's TXT record at [`INFO_NAME`], or the header
//! comment).
//!
//! RPZ (draft-vixie-dnsop-dns-rpz): a subtree rule `example.com` becomes
//! `example.com` and `*.example.com`, an exact rule `=example.com` the
//! name alone; each with the action of its category: NXDOMAIN
//! (`CNAME .`), NODATA (`CNAME *.`) or local data (A/AAAA of the block
//! page). The SOA serial is the list serial, so a secondary's serial says
//! which list it holds. Where a name has both an exact and a subtree rule,
//! the owner name takes the exact rule's action, as ward's own lookup
//! does; RPZ, like ward, prefers the longest match among wildcards.
//!
//! [`RpzZone`] walks the zone as records; the text export writes them as
//! zone-file lines and the feed (`crate::rpz`) encodes the same records
//! for AXFR, so both carry exactly the same zone.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ListArtifact, RuleKind};

/// What an RPZ consumer does with a listed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `CNAME .`: the name does not exist.
    Nxdomain,
    /// `CNAME *.`: the name exists, with no records.
    Nodata,
    /// A/AAAA records of the block page (the sinkhole addresses).
    Redirect,
}

/// How to write a zone.
#[derive(Debug, Clone)]
pub struct RpzOptions {
    /// The zone's name, with its trailing dot (`child.rpz.`).
    pub zone: String,
    /// TTL of every record.
    pub ttl: u32,
    /// The action of categories not in `actions`.
    pub default_action: Action,
    /// Actions by category name.
    pub actions: BTreeMap<String, Action>,
    /// The block page's addresses, for [`Action::Redirect`].
    pub sinkhole_ipv4: Vec<Ipv4Addr>,
    pub sinkhole_ipv6: Vec<Ipv6Addr>,
}

impl Action {
    /// `nxdomain`, `nodata` or `redirect`, any case.
    pub fn parse(text: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(text.trim(), true).ok()
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Redirect => "redirect",
        }
    }
}

/// `CATEGORY=ACTION` (`adult=redirect`), as `--category-action` and the
/// feed's `category_actions` spell it.
pub fn parse_category_action(s: &str) -> Result<(String, Action), String> {
    let (category, action) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected CATEGORY=ACTION, e.g. adult=redirect"))?;
    let action = Action::parse(action)
        .ok_or_else(|| format!("action {action:?}: use nxdomain, nodata or redirect"))?;
    Ok((category.trim().to_string(), action))
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the list's index cannot be read: {0}")]
    Index(#[source] super::VerifyError),
    #[error(
        "list serial {0} does not fit a zone's SOA serial (32 bits); RPZ consumers cannot follow it"
    )]
    Serial(u64),
    #[error("categories {0} are exported as redirects but no sinkhole address is given")]
    NoSinkhole(String),
    #[error("no category {0:?} in this list; its categories are {1}")]
    UnknownCategory(String, String),
}

/// What an export wrote and left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Rules written.
    pub rules: u64,
    /// Rules of confidential categories, left out.
    pub confidential: u64,
    /// Rules whose name is too long to sit under the zone's name.
    pub too_long: u64,
}

/// Where the zone's TXT record naming the list sits, under the zone's
/// name: `list.ward.child.rpz.`. Not at the apex: RPZ consumers (Unbound,
/// PowerDNS Recursor) read every record at the apex other than SOA and NS
/// as a policy for the root name, so a TXT there rewrote answers for `.`.
/// Here it is a policy for `list.ward.` alone (not a delegated name), so
/// `dig list.ward TXT` at a secondary says which list it holds, as
/// `dig -c CH list.ward TXT` does at a ward node.
pub const INFO_NAME: &str = "list.ward";

/// The TXT record naming the list, with `strings`.
pub fn info_record(strings: &[String]) -> Record<'_> {
    Record {
        owner: Owner::Name {
            name: INFO_NAME,
            wildcard: false,
        },
        rdata: Rdata::Txt(strings),
    }
}

/// Longest domain name in text, without the trailing dot.
const MAX_NAME_TEXT: usize = 253;

/// Rules left out because their categories are confidential.
fn confidential_rules(list: &ListArtifact) -> u64 {
    let m = list.manifest();
    m.categories
        .iter()
        .filter(|c| c.confidential)
        .map(|c| c.entries)
        .sum()
}

fn summary(list: &ListArtifact) -> String {
    format!(
        "list {} serial {} sha256 {}",
        list.list_id(),
        list.serial(),
        hex::encode(list.sha256())
    )
}

/// Calls `f(name, exact, subtree)` once per listed name, with the
/// category of its exact and of its subtree rule; stops at the first
/// error `f` returns.
fn for_each_name(
    list: &ListArtifact,
    mut f: impl FnMut(&str, Option<u16>, Option<u16>) -> io::Result<()>,
) -> Result<(), ExportError> {
    // The walk yields a name's exact rule just before its subtree rule.
    let mut pending: Option<(String, u16)> = None;
    let mut failed: Option<io::Error> = None;
    let walk = list.for_each_plain_rule(|name, kind, category| {
        if failed.is_some() {
            return;
        }
        let result = match kind {
            RuleKind::Exact => {
                let flushed = match pending.take() {
                    Some((prev, c)) => f(&prev, Some(c), None),
                    None => Ok(()),
                };
                pending = Some((name.to_owned(), category));
                flushed
            }
            RuleKind::Subtree => match pending.take() {
                Some((prev, c)) if prev == name => f(name, Some(c), Some(category)),
                Some((prev, c)) => {
                    f(&prev, Some(c), None).and_then(|()| f(name, None, Some(category)))
                }
                None => f(name, None, Some(category)),
            },
        };
        if let Err(e) = result {
            failed = Some(e);
        }
    });
    walk.map_err(ExportError::Index)?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if let Some((name, c)) = pending {
        f(&name, Some(c), None)?;
    }
    Ok(())
}

/// Where a zone record sits, relative to the zone's apex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The zone's own name (`@`).
    Apex,
    /// A listed name under the zone; `wildcard`: `*.` before it.
    Name { name: &'a str, wildcard: bool },
}

/// The data of one zone record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rdata<'a> {
    /// `SOA localhost. hostmaster.localhost. SERIAL 3600 600 604800 MINIMUM`.
    Soa {
        serial: u32,
        minimum: u32,
    },
    /// `NS localhost.`
    Ns,
    /// The list's TXT record (at [`INFO_NAME`]): its character strings.
    Txt(&'a [String]),
    /// `CNAME .` (NXDOMAIN).
    CnameRoot,
    /// `CNAME *.` (NODATA).
    CnameWildcard,
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
}

/// The SOA's fixed timers: refresh, retry, expire (seconds).
pub const SOA_TIMERS: [u32; 3] = [3600, 600, 604800];
/// The SOA's primary server and mailbox, as names.
pub const SOA_MNAME: &str = "localhost.";
pub const SOA_RNAME: &str = "hostmaster.localhost.";

/// One record of a zone; every record has the zone's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub owner: Owner<'a>,
    pub rdata: Rdata<'a>,
}

/// A list checked against the options, ready to be walked as a zone.
#[derive(Debug)]
pub struct RpzZone<'a> {
    list: &'a ListArtifact,
    opts: &'a RpzOptions,
    serial: u32,
    action_of: Vec<Action>,
    txt: Vec<String>,
}

impl<'a> RpzZone<'a> {
    /// Checks that `list` can be written as a zone with `opts`: its
    /// serial fits 32 bits, every category named exists, redirects have
    /// an address.
    pub fn new(list: &'a ListArtifact, opts: &'a RpzOptions) -> Result<Self, ExportError> {
        let serial =
            u32::try_from(list.serial()).map_err(|_| ExportError::Serial(list.serial()))?;
        let categories = &list.manifest().categories;
        let known = || {
            categories
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(unknown) = opts
            .actions
            .keys()
            .find(|name| !categories.iter().any(|c| &c.name == *name))
        {
            return Err(ExportError::UnknownCategory(unknown.clone(), known()));
        }
        let action_of: Vec<Action> = categories
            .iter()
            .map(|c| {
                opts.actions
                    .get(&c.name)
                    .copied()
                    .unwrap_or(opts.default_action)
            })
            .collect();
        let redirected: Vec<&str> = categories
            .iter()
            .zip(&action_of)
            .filter(|(c, a)| **a == Action::Redirect && !c.confidential && c.entries > 0)
            .map(|(c, _)| c.name.as_str())
            .collect();
        if !redirected.is_empty() && opts.sinkhole_ipv4.is_empty() && opts.sinkhole_ipv6.is_empty()
        {
            return Err(ExportError::NoSinkhole(redirected.join(", ")));
        }
        let mut txt = vec![
            format!("list={}", list.list_id()),
            format!("serial={}", list.serial()),
            format!("sha256={}", hex::encode(list.sha256())),
        ];
        let confidential = confidential_rules(list);
        if confidential > 0 {
            txt.push(format!(
                "confidential-omitted={confidential}: rules of confidential categories are hashed and cannot be exported"
            ));
        }
        Ok(Self {
            list,
            opts,
            serial,
            action_of,
            txt,
        })
    }

    /// The zone's SOA serial: the list serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The SOA record (first and last of a zone transfer).
    pub fn soa(&self) -> Record<'static> {
        Record {
            owner: Owner::Apex,
            rdata: Rdata::Soa {
                serial: self.serial,
                minimum: self.opts.ttl,
            },
        }
    }

    /// Calls `f` with every record of the zone in order: the SOA, the NS,
    /// the TXT naming the list, then each listed name's records. Stops at the first
    /// error `f` returns.
    pub fn for_each_record(
        &self,
        mut f: impl FnMut(Record<'_>) -> io::Result<()>,
    ) -> Result<ExportStats, ExportError> {
        let opts = self.opts;
        let mut stats = ExportStats {
            confidential: confidential_rules(self.list),
            ..ExportStats::default()
        };
        f(self.soa())?;
        f(Record {
            owner: Owner::Apex,
            rdata: Rdata::Ns,
        })?;
        f(self.info())?;
        let room = self.room();
        for_each_name(self.list, |name, exact, subtree| {
            let rules = u64::from(exact.is_some()) + u64::from(subtree.is_some());
            let wildcard = subtree.is_some();
            if name.len() + if wildcard { 2 } else { 0 } > room {
                stats.too_long += rules;
                return Ok(());
            }
            stats.rules += rules;
            let (own, under) = self.shape(exact, subtree);
            if let Some(a) = own {
                action_records(name, false, a, opts, &mut f)?;
            }
            if let Some(a) = under {
                action_records(name, true, a, opts, &mut f)?;
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// The TXT record naming the list, at [`INFO_NAME`] under the zone.
    pub fn info(&self) -> Record<'_> {
        info_record(&self.txt)
    }

    /// The TXT record's character strings.
    pub fn txt(&self) -> &[String] {
        &self.txt
    }

    /// Calls `f(added, record)` for every record of a listed name that
    /// `old`'s zone has and this one has not (`added` false), or the
    /// other way (`added` true): the body of an IXFR from `old` (the SOA
    /// and the list's TXT aside, which change with every list). Both zones
    /// must have been made with the same options. The two lists are
    /// walked side by side once; only changed names are spelled out.
    pub fn for_each_change(
        &self,
        old: &RpzZone<'_>,
        mut f: impl FnMut(bool, Record<'_>),
    ) -> Result<(), ExportError> {
        let room = self.room();
        let opts = self.opts;
        let mut emit = |name: &str, wildcard: bool, action: Option<Action>, added: bool| {
            if let Some(a) = action {
                let _ = action_records(name, wildcard, a, opts, &mut |r| {
                    f(added, r);
                    Ok(())
                });
            }
        };
        self.list
            .for_each_plain_pair(old.list, |key, was, is| {
                let split = |v: Option<super::format::RuleValue>| {
                    v.map_or((None, None), |v| (v.exact, v.subtree))
                };
                let (was_exact, was_subtree) = split(was);
                let (is_exact, is_subtree) = split(is);
                let before = old.shape(was_exact, was_subtree);
                let after = self.shape(is_exact, is_subtree);
                if before == after {
                    return;
                }
                let name = crate::domain::NameKey::to_forward(key);
                // As `for_each_record`: a name that does not fit under the
                // zone (with `*.` when it has a subtree rule) is not in it.
                let fits = |shape: (Option<Action>, Option<Action>)| {
                    let wildcard = if shape.1.is_some() { 2 } else { 0 };
                    if name.len() + wildcard > room {
                        (None, None)
                    } else {
                        shape
                    }
                };
                let (before, after) = (fits(before), fits(after));
                if before.0 != after.0 {
                    emit(&name, false, before.0, false);
                    emit(&name, false, after.0, true);
                }
                if before.1 != after.1 {
                    emit(&name, true, before.1, false);
                    emit(&name, true, after.1, true);
                }
            })
            .map_err(ExportError::Index)
    }

    /// The longest name that fits under the zone, with room for `*.`.
    fn room(&self) -> usize {
        let zone = self.opts.zone.trim_end_matches('.');
        MAX_NAME_TEXT.saturating_sub(zone.len() + 1)
    }

    /// The actions of a name's own record and of its `*.` record, from
    /// the categories of its exact and subtree rules: the name takes the
    /// exact rule's action where it has both.
    fn shape(&self, exact: Option<u16>, subtree: Option<u16>) -> (Option<Action>, Option<Action>) {
        let action = |c: u16| {
            self.action_of
                .get(usize::from(c))
                .copied()
                .unwrap_or(self.opts.default_action)
        };
        (exact.or(subtree).map(action), subtree.map(action))
    }
}

/// The records of one owner name for `action`.
fn action_records(
    name: &str,
    wildcard: bool,
    action: Action,
    opts: &RpzOptions,
    f: &mut impl FnMut(Record<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let owner = Owner::Name { name, wildcard };
    let mut record = |rdata| f(Record { owner, rdata });
    match action {
        Action::Nxdomain => record(Rdata::CnameRoot),
        Action::Nodata => record(Rdata::CnameWildcard),
        Action::Redirect => {
            for a in &opts.sinkhole_ipv4 {
                record(Rdata::A(*a))?;
            }
            for a in &opts.sinkhole_ipv6 {
                record(Rdata::Aaaa(*a))?;
            }
            Ok(())
        }
    }
}

/// Writes `list` as a Response Policy Zone.
pub fn write_rpz(
    list: &ListArtifact,
    opts: &RpzOptions,
    out: &mut dyn Write,
) -> Result<ExportStats, ExportError> {
    let zone = RpzZone::new(list, opts)?;
    writeln!(out, "; ward list export --format rpz: {}", summary(list))?;
    writeln!(out, "$ORIGIN {}.", opts.zone.trim_end_matches('.'))?;
    writeln!(out, "$TTL {}", opts.ttl)?;
    zone.for_each_record(|record| write_record(out, record))
}

/// One record as a zone-file line.
fn write_record(out: &mut dyn Write, record: Record<'_>) -> io::Result<()> {
    match record.owner {
        Owner::Apex => write!(out, "@")?,
        Owner::Name { name, wildcard } => {
            let star = if wildcard { "*." } else { "" };
            write!(out, "{star}{}", escape(name))?;
        }
    }
    match record.rdata {
        Rdata::Soa { serial, minimum } => {
            let [refresh, retry, expire] = SOA_TIMERS;
            writeln!(
                out,
                " SOA {SOA_MNAME} {SOA_RNAME} {serial} {refresh} {retry} {expire} {minimum}"
            )
        }
        Rdata::Ns => writeln!(out, " NS {SOA_MNAME}"),
        Rdata::Txt(strings) => {
            write!(out, " TXT")?;
            for s in strings {
                write!(out, " \"{s}\"")?;
            }
            writeln!(out)
        }
        Rdata::CnameRoot => writeln!(out, " CNAME ."),
        Rdata::CnameWildcard => writeln!(out, " CNAME *."),
        Rdata::A(a) => writeln!(out, " A {a}"),
        Rdata::Aaaa(a) => writeln!(out, " AAAA {a}"),
    }
}

/// A name as a zone-file owner: list names are `[a-z0-9_-]` labels, so
/// this changes nothing in a verified list; any other byte is written
/// `\DDD` all the same, so that no name can break the zone's syntax.
fn escape(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return name.to_owned();
    }
    let mut s = String::with_capacity(name.len() + 8);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\{b:03}"));
        }
    }
    s
}

/// Writes one name per line: every listed name, exact or subtree alike
/// (a plain domain list has no way to say which; consumers that match
/// subdomains treat every line as a subtree).
pub fn write_domains(list: &ListArtifact, out: &mut dyn Write) -> Result<ExportStats, ExportError> {
    let mut stats = ExportStats {
        confidential: confidential_rules(list),
        ..ExportStats::default()
    };
    writeln!(
        out,
        "# ward list export --format domains: {}",
        summary(list)
    )?;
    omitted_comment(out, stats.confidential)?;
    for_each_name(list, |name, exact, subtree| {
        stats.rules += u64::from(exact.is_some()) + u64::from(subtree.is_some());
        writeln!(out, "{}", escape(name))
    })?;
    Ok(stats)
}

/// Writes a hosts file: `0.0.0.0 NAME` per listed name. Hosts files match
/// exact names only, so a subtree rule covers just its own name there.
pub fn write_hosts(list: &ListArtifact, out: &mut dyn Write) -> Result<ExportStats, ExportError> {
    let mut stats = ExportStats {
        confidential: confidential_rules(list),
        ..ExportStats::default()
    };
    writeln!(out, "# ward list export --format hosts: {}", summary(list))?;
    writeln!(
        out,
        "# hosts files match exact names only: subdomains of subtree rules are not covered"
    )?;
    omitted_comment(out, stats.confidential)?;
    for_each_name(list, |name, exact, subtree| {
        stats.rules += u64::from(exact.is_some()) + u64::from(subtree.is_some());
        writeln!(out, "0.0.0.0 {}", escape(name))
    })?;
    Ok(stats)
}

fn omitted_comment(out: &mut dyn Write, confidential: u64) -> io::Result<()> {
    if confidential > 0 {
        writeln!(
            out,
            "# {confidential} rules of confidential categories are hashed and cannot be exported"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{BuildOptions, TrustedKeys, Verified, build, verify};
    use ed25519_dalek::SigningKey;

    fn list(source: &str, serial: u64, confidential: &[&str]) -> Verified<ListArtifact> {
        let key = SigningKey::from_bytes(&[3; 32]);
        let now = jiff::Timestamp::now();
        let opts = BuildOptions {
            list_id: "t".into(),
            serial,
            issued_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(1),
            confidential: confidential.iter().map(|s| s.to_string()).collect(),
            min_age: Default::default(),
        };
        let (bytes, _) = build::build_from_str(source, &opts, &key).unwrap();
        let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
        verify(crate::list::Bytes::Owned(bytes), &trust).unwrap()
    }

    fn opts() -> RpzOptions {
        RpzOptions {
            zone: "child.rpz.".into(),
            ttl: 60,
            default_action: Action::Nxdomain,
            actions: BTreeMap::new(),
            sinkhole_ipv4: vec![],
            sinkhole_ipv6: vec![],
        }
    }

    fn rpz(l: &ListArtifact, o: &RpzOptions) -> (String, ExportStats) {
        let mut out = Vec::new();
        let stats = write_rpz(l, o, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    fn body(zone: &str) -> Vec<&str> {
        zone.lines()
            .filter(|l| !l.starts_with([';', '$', '@']) && !l.starts_with("list.ward "))
            .collect()
    }

    #[test]
    fn subtree_exact_and_both() {
        let l = list(
            "a.test adult\n=b.test adult\n=c.test gambling\nc.test adult\n",
            7,
            &[],
        );
        let (zone, stats) = rpz(&l, &opts());
        assert!(zone.contains("$ORIGIN child.rpz.\n"), "{zone}");
        assert!(
            zone.contains("@ SOA localhost. hostmaster.localhost. 7 3600 600 604800 60\n"),
            "{zone}"
        );
        let sha = hex::encode(l.sha256());
        assert!(
            zone.contains(&format!(
                "list.ward TXT \"list=t\" \"serial=7\" \"sha256={sha}\"\n"
            )),
            "{zone}"
        );
        assert_eq!(
            body(&zone),
            [
                "a.test CNAME .",
                "*.a.test CNAME .",
                "b.test CNAME .",
                "c.test CNAME .",
                "*.c.test CNAME .",
            ]
        );
        assert_eq!(
            stats,
            ExportStats {
                rules: 4,
                confidential: 0,
                too_long: 0
            }
        );
    }

    #[test]
    fn actions_per_category() {
        let l = list("=c.test gambling\nc.test adult\nd.test social\n", 1, &[]);
        let mut o = opts();
        o.actions.insert("adult".into(), Action::Redirect);
        o.actions.insert("social".into(), Action::Nodata);
        assert!(matches!(
            write_rpz(&l, &o, &mut Vec::new()),
            Err(ExportError::NoSinkhole(c)) if c == "adult"
        ));
        o.sinkhole_ipv4 = vec!["192.0.2.1".parse().unwrap()];
        o.sinkhole_ipv6 = vec!["2001:db8::1".parse().unwrap()];
        let (zone, _) = rpz(&l, &o);
        assert_eq!(
            body(&zone),
            [
                // The exact rule's action for the name itself.
                "c.test CNAME .",
                "*.c.test A 192.0.2.1",
                "*.c.test AAAA 2001:db8::1",
                "d.test CNAME *.",
                "*.d.test CNAME *.",
            ]
        );
        o.actions.insert("nope".into(), Action::Nodata);
        let err = write_rpz(&l, &o, &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(
            err,
            "no category \"nope\" in this list; its categories are adult, gambling, social"
        );
    }

    #[test]
    fn confidential_rules_are_left_out_and_said() {
        let l = list(
            "a.test adult\nsecret.test csam\nother.test csam\n",
            2,
            &["csam"],
        );
        let (zone, stats) = rpz(&l, &opts());
        assert_eq!(stats.confidential, 2);
        assert!(!zone.contains("secret"), "{zone}");
        assert!(zone.contains("\"confidential-omitted=2: "), "{zone}");
        let mut out = Vec::new();
        write_domains(&l, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("# 2 rules of confidential categories"),
            "{text}"
        );
        assert!(text.ends_with("\na.test\n"), "{text}");
        let mut out = Vec::new();
        write_hosts(&l, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\n0.0.0.0 a.test\n"), "{text}");
    }

    #[test]
    fn a_serial_past_32_bits_and_names_too_long_for_the_zone() {
        let l = list("a.test adult\n", u64::from(u32::MAX) + 1, &[]);
        assert!(matches!(
            write_rpz(&l, &opts(), &mut Vec::new()),
            Err(ExportError::Serial(_))
        ));
        let long = format!("{0}.{0}.{0}.{1}.test", "a".repeat(63), "b".repeat(50));
        let l = list(&format!("{long} adult\nok.test adult\n"), 3, &[]);
        let (zone, stats) = rpz(&l, &opts());
        assert_eq!(stats.too_long, 1);
        assert_eq!(body(&zone), ["ok.test CNAME .", "*.ok.test CNAME ."]);
    }
}
