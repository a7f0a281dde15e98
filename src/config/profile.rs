//! `[[profile]]`: what a group of clients gets beyond the national list:
//! their age, the extra lists that apply, categories blocked whatever the
//! age, and an `allow` file.
//!
//! Two profiles may not claim the same network (same address and prefix
//! length): neither would be more specific. Nested networks are fine, the
//! most specific wins. `listen` names `[dns] listen` addresses whose
//! queries get the profile whatever the client's address; each belongs
//! to one profile at most. A profile needs `clients`, `listen` or both. The `allow` file is read here, once: one name per
//! line (the name and everything under it), `=name` for the name alone,
//! `#` comments.

use std::net::SocketAddr;
use std::path::Path;

use ipnet::IpNet;

use super::extract::{self, Got, Invalid, Table};
use super::lists::unique_name;
use crate::domain::DomainName;
use crate::list::RuleKind;
use crate::policy::{ClientId, ListenerId, Overlap, ProfileId, Selector};
use crate::profiles::{
    AllowFile, MAX_AGE, MAX_SCHOOL_TEXT, MIN_AGE, ProfileListen, ProfileSettings, SchoolContact,
    valid_school_text,
};

/// The profiles; `list_names` are the valid `[[lists]]` names,
/// `dns_listen` the `[dns] listen` addresses.
pub(super) fn extract(
    root: &mut Table<'_, '_>,
    list_names: &[String],
    dns_listen: &[SocketAddr],
) -> Vec<ProfileSettings> {
    let mut names = Vec::new();
    // Each profile's name, or its place when it has no valid name.
    let mut labels: Vec<String> = Vec::new();
    // Every network seen so far, with its profile's place and name.
    let mut networks: Vec<(IpNet, ProfileId)> = Vec::new();
    // Every listen address claimed so far, with its profile's place.
    let mut claimed: Vec<(SocketAddr, usize)> = Vec::new();
    // Every client id claimed so far, with its profile's place.
    let mut claimed_ids: Vec<(ClientId, usize)> = Vec::new();
    let mut index = 0u16;
    root.tables("profile", |mut t| {
        let id = ProfileId(index);
        index = index.saturating_add(1);
        let name = unique_name(&mut t, &mut names);
        labels.push(
            name.clone()
                .map_or_else(|| format!("profile[{}]", id.0), |n| format!("{n:?}")),
        );
        let listen = listen(&mut t, dns_listen, &mut claimed, &labels);
        let client_ids = client_ids(&mut t, &mut claimed_ids, &labels);
        let by_listener = matches!(&listen, Some(l) if !l.is_empty())
            // A bad `client_ids` was meant to select the profile too.
            || !matches!(&client_ids, Some(c) if c.is_empty());
        let clients = clients(&mut t, id, &mut networks, &labels, by_listener);
        let age = match t.get("age", extract::integer(MIN_AGE.into(), MAX_AGE.into())) {
            Got::Missing => {
                t.error(
                    "age",
                    "required: the age of the profile's readers, in years",
                );
                None
            }
            got => got.ok(),
        };
        let lists = t
            .list("lists", |v| known_list(v, list_names))
            .or(Vec::new());
        let block_categories = t.list("block_categories", category).or(Vec::new());
        let allow = t.get("allow", extract::path).ok().and_then(|path| {
            let (entries, problems) = read_allow(&path);
            for problem in &problems {
                t.error("allow", problem.clone());
            }
            problems.is_empty().then_some(AllowFile { path, entries })
        });
        let allow_given = t.has("allow");
        let mode =
            super::schedule::mode(&mut t, allow.as_ref().map(|a| a.entries.len()), allow_given);
        let schedule = super::schedule::windows(&mut t, category);
        let bypass = super::bypass::extract(t.table("bypass"));
        let school = SchoolContact {
            name: school_text(&mut t, "school_name"),
            contact: school_text(&mut t, "school_contact"),
        };
        let safe_search = super::safe_search::extract(&mut t);
        Some(ProfileSettings {
            school,
            name: name?,
            clients: clients?,
            listen: listen?,
            client_ids: client_ids?,
            age: age?,
            lists,
            block_categories,
            allow,
            safe_search,
            mode,
            schedule: schedule?,
            bypass,
        })
    })
    .or(Vec::new())
}

/// `listen`: optional; each address one of `dns_listen`, and in no
/// profile before this one (`claimed`, with the places of the profiles
/// that claimed them, labelled by `labels`; the last label is this
/// profile's).
fn listen(
    t: &mut Table<'_, '_>,
    dns_listen: &[SocketAddr],
    claimed: &mut Vec<(SocketAddr, usize)>,
    labels: &[String],
) -> Option<Vec<ProfileListen>> {
    let this = labels.len().saturating_sub(1);
    let got = t.list("listen", |value| {
        let addr = extract::socket_addr(value)?;
        let Some(place) = dns_listen.iter().position(|&a| a == addr) else {
            let all: Vec<String> = dns_listen.iter().map(|a| format!("{a}")).collect();
            return Err(Invalid(format!(
                "{addr} is not one of the [dns] listen addresses ({}); a profile can only select queries that arrive on one of them",
                all.join(", ")
            )));
        };
        if let Some(&(_, other)) = claimed.iter().find(|&&(a, p)| a == addr && p != this) {
            let other = labels.get(other).map_or("?", String::as_str);
            return Err(Invalid(format!(
                "{addr} is also the listen address of profile {other}: a listen address selects one profile"
            )));
        }
        // The listeners are numbered by u16; the last number is kept for
        // the sockets past it, which no profile can select.
        let listener = u16::try_from(place)
            .ok()
            .filter(|&p| p != u16::MAX)
            .map(ListenerId)
            .ok_or_else(|| {
                Invalid(format!(
                    "{addr} is [dns] listen address number {place}; a profile can select one of the first {}",
                    u16::MAX
                ))
            })?;
        // Claimed even if another entry is bad, so that a clash with a
        // later profile is reported too.
        claimed.push((addr, this));
        Ok(ProfileListen { addr, listener })
    });
    match got {
        Got::Missing => Some(Vec::new()),
        Got::Bad => None,
        Got::Ok(listen) => Some(listen),
    }
}

/// `client_ids`: optional; each one DNS label (letters, digits, hyphens),
/// in no profile before this one (`claimed`, with the places of the
/// profiles that claimed them, labelled by `labels`; the last label is
/// this profile's).
fn client_ids(
    t: &mut Table<'_, '_>,
    claimed: &mut Vec<(ClientId, usize)>,
    labels: &[String],
) -> Option<Vec<ClientId>> {
    let this = labels.len().saturating_sub(1);
    let got = t.list("client_ids", |value| {
        let text = extract::string(value)?;
        let id = ClientId::parse(text).ok_or_else(|| {
            Invalid(format!(
                "{text:?} is not a client id: one DNS label of letters, digits and hyphens (1 to 63, not starting or ending with a hyphen), as in school-42.dns.example.vn or /dns-query/school-42"
            ))
        })?;
        if let Some(&(_, other)) = claimed.iter().find(|&&(c, _)| c == id) {
            let other = labels.get(other).map_or("?", String::as_str);
            return Err(Invalid(if other == labels[this] {
                format!("client id {id} is given twice")
            } else {
                format!("client id {id} is also a client id of profile {other}: a client id selects one profile")
            }));
        }
        claimed.push((id, this));
        Ok(id)
    });
    match got {
        Got::Missing => Some(Vec::new()),
        Got::Bad => None,
        Got::Ok(ids) => Some(ids),
    }
}

/// `clients`: required unless the profile has a `listen` address
/// (`by_listener`), then optional; non-empty when given; each network
/// checked against those of the profiles before this one. `labels[i]`
/// names profile `i` (a profile without a valid name is labelled by its
/// place).
fn clients(
    t: &mut Table<'_, '_>,
    id: ProfileId,
    networks: &mut Vec<(IpNet, ProfileId)>,
    labels: &[String],
    by_listener: bool,
) -> Option<Vec<IpNet>> {
    let clients = match t.list("clients", extract::ip_net) {
        Got::Ok(c) if !c.is_empty() => c,
        Got::Bad => return None,
        Got::Missing | Got::Ok(_) if by_listener => return Some(Vec::new()),
        Got::Missing | Got::Ok(_) => {
            t.error(
                "clients",
                "required: the client networks (CIDRs or addresses) this profile applies to, or `listen` addresses or `client_ids` that select it",
            );
            return None;
        }
    };
    networks.extend(clients.iter().map(|&net| (net, id)));
    if let Err(overlaps) = Selector::new(networks.iter().copied(), std::iter::empty()) {
        let label = |p: ProfileId| {
            labels
                .get(usize::from(p.0))
                .cloned()
                .unwrap_or_else(|| format!("profile[{}]", p.0))
        };
        for overlap in overlaps {
            if let Overlap::Network { net, first, second } = overlap
                && second == id
            {
                t.error(
                    "clients",
                    format!(
                        "network {net} is also in profile {}: two profiles cannot claim the same network (a more specific one can be nested inside)",
                        label(first)
                    ),
                );
            }
        }
        // Keep only the networks no other profile claims, so one clash
        // is reported once.
        networks.retain(|&(_, p)| p != id);
        return None;
    }
    Some(clients)
}

/// `school_name` / `school_contact`: optional one-line text for the block
/// page.
fn school_text(t: &mut Table<'_, '_>, key: &'static str) -> Option<String> {
    t.get(key, |v| {
        let text = extract::string(v)?;
        if valid_school_text(text) {
            Ok(text.trim().to_owned())
        } else {
            Err(Invalid(format!(
                "must be one line of text: not blank, at most {MAX_SCHOOL_TEXT} characters, no control characters (line breaks, tabs)"
            )))
        }
    })
    .ok()
}

fn known_list(value: &toml::de::DeValue<'_>, list_names: &[String]) -> Result<String, Invalid> {
    let name = extract::string(value)?;
    if list_names.iter().any(|n| n == name) {
        Ok(name.to_owned())
    } else if list_names.is_empty() {
        Err(Invalid(format!(
            "unknown list {name:?}: no [[lists]] entry is defined"
        )))
    } else {
        Err(Invalid(format!(
            "unknown list {name:?}; the [[lists]] names are {}",
            list_names.join(", ")
        )))
    }
}

fn category(value: &toml::de::DeValue<'_>) -> Result<String, Invalid> {
    let text = extract::string(value)?;
    let ok = !text.is_empty()
        && text.len() <= crate::list::source::MAX_CATEGORY_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(Invalid(format!(
            "invalid category {text:?}: categories match [a-z0-9-]+ (at most 63 bytes)"
        )))
    }
}

/// The rules of an allow file, and every problem as `file:line: reason`.
fn read_allow(path: &Path) -> (Vec<(DomainName, RuleKind)>, Vec<String>) {
    let label = path.display();
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return (Vec::new(), vec![format!("cannot read {label}: {e}")]),
    };
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        match allow_line(line) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(reason) => problems.push(format!("{label}:{}: {reason}", i + 1)),
        }
    }
    (entries, problems)
}

/// One line of an allow file: `name`, `=name` or a comment.
fn allow_line(raw: &[u8]) -> Result<Option<(DomainName, RuleKind)>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_owned())?;
    let text = text.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.split_ascii_whitespace().nth(1).is_some() {
        return Err("one name per line (no category in an allow file)".into());
    }
    let (kind, name) = match text.strip_prefix('=') {
        Some(rest) => (RuleKind::Exact, rest),
        None => (RuleKind::Subtree, text.strip_prefix("*.").unwrap_or(text)),
    };
    let name = DomainName::parse(name).map_err(|e| format!("invalid name {name:?}: {e}"))?;
    Ok(Some((name, kind)))
}
