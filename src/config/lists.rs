//! `[[lists]]`: extra lists that `[[profile]]` entries apply, each either
//! a plain `source` file or a signed list (`file` and/or `url`) with its
//! own `trusted_keys`.
//!
//! A source file is checked line by line here, so that `ward config
//! check` names every bad line (`file:line`); it is compiled when ward
//! loads it. A signed file is verified when ward loads it, like the
//! national list; here only its keys (and, with `url`, its CA bundle) are
//! read. With `url` the updater's keys of `[list]` apply per list, with
//! the same bounds and defaults.

use std::path::Path;

use super::extract::{self, Got, Invalid, Table};
use super::list::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_LIST_SIZE, DEFAULT_POLL_INTERVAL, MAX_FETCH_TIMEOUT,
    MAX_POLL_INTERVAL, MIN_FETCH_TIMEOUT, MIN_MAX_LIST_SIZE, MIN_POLL_INTERVAL,
};
use crate::list::source::parse_line;
use crate::profiles::{
    ExtraListSettings, ListOrigin, ListUpdate, MAX_NAME_LEN, NATIONAL_LIST_NAME, valid_name,
};

/// The extra lists, and the name of every entry that has a valid one
/// (profiles are checked against those, so one bad key in a list does not
/// also make every profile that names it wrong).
pub(super) fn extract(root: &mut Table<'_, '_>) -> (Vec<ExtraListSettings>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let lists = root
        .tables("lists", |t| read_one(t, &mut names))
        .or(Vec::new());
    (lists, names)
}

/// A list or profile name: `[a-z0-9][a-z0-9.-]*`, at most 64 bytes.
pub(super) fn name(value: &toml::de::DeValue<'_>) -> Result<String, Invalid> {
    let text = extract::string(value)?;
    if valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(Invalid(format!(
            "invalid name {text:?}: use lowercase letters, digits, '.' and '-', starting with a letter or digit, at most {MAX_NAME_LEN} bytes, and not an IP address"
        )))
    }
}

/// Reads `name` (required, unique among `seen`) and records it.
pub(super) fn unique_name(t: &mut Table<'_, '_>, seen: &mut Vec<String>) -> Option<String> {
    match t.get("name", name) {
        Got::Ok(n) if seen.contains(&n) => {
            t.error(
                "name",
                format!("duplicate name {n:?}: names must be unique"),
            );
            None
        }
        Got::Ok(n) => {
            seen.push(n.clone());
            Some(n)
        }
        Got::Missing => {
            t.error("name", "required: the name profiles use for this entry");
            None
        }
        Got::Bad => None,
    }
}

fn read_one(mut t: Table<'_, '_>, names: &mut Vec<String>) -> Option<ExtraListSettings> {
    let name = match unique_name(&mut t, names) {
        Some(n) if n == NATIONAL_LIST_NAME => {
            t.error(
                "name",
                format!(
                    "{NATIONAL_LIST_NAME:?} is reserved for the national list ([list]) in metrics and reports; choose another name"
                ),
            );
            None
        }
        Some(n) if n == crate::policy::GARDEN_NAME => {
            t.error(
                "name",
                format!(
                    "{n:?} is reserved for walled-garden blocks (mode = \"allow_only\") in metrics and reports; choose another name"
                ),
            );
            None
        }
        other => other,
    };
    let signed_keys = t.has("file") || t.has("url");
    let origin = match (t.has("source"), signed_keys) {
        (true, true) => {
            // Known keys, all: only the clash is reported.
            let _ = t.get("source", |_| Ok(()));
            for key in ["file", "url"] {
                if t.has(key) {
                    let _ = t.get(key, |_| Ok(()));
                    t.error(
                        key,
                        "set either `source` or a signed `file`/`url`, not both",
                    );
                }
            }
            None
        }
        (true, false) => source(&mut t),
        (false, true) => signed(&mut t),
        (false, false) => {
            t.error(
                "source",
                "required: set `source` (a plain list file), or `file` and/or `url` (a signed list, with `trusted_keys`)",
            );
            None
        }
    };
    Some(ExtraListSettings {
        name: name?,
        origin: origin?,
    })
}

fn source(t: &mut Table<'_, '_>) -> Option<ListOrigin> {
    if t.has("trusted_keys") {
        t.error(
            "trusted_keys",
            "only used with `file`: a source list is trusted as the operator's own file",
        );
    }
    let path = t.get("source", extract::path).ok()?;
    let problems = check_source(&path);
    let ok = problems.is_empty();
    for problem in problems {
        t.error("source", problem);
    }
    ok.then_some(ListOrigin::Source { source: path })
}

/// Bad lines of one source file shown one by one; past that, a count.
const MAX_SHOWN_LINES: usize = 20;

/// The bad lines of a source file, as `file:line: reason` (the first
/// [`MAX_SHOWN_LINES`], then how many more: a file in the wrong format
/// would otherwise bury every other error under one line per entry); or
/// why it cannot be read.
fn check_source(path: &Path) -> Vec<String> {
    let label = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return vec![format!("cannot read {label}: {e}")],
    };
    let mut bad = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| parse_line(line).err().map(|e| (i + 1, e)));
    let mut problems: Vec<String> = bad
        .by_ref()
        .take(MAX_SHOWN_LINES)
        .map(|(line, e)| format!("{label}:{line}: {e}"))
        .collect();
    let more = bad.count();
    if more > 0 {
        problems.push(format!(
            "{label}: and {more} more bad line(s); `ward list build` on the file lists them all"
        ));
    }
    problems
}

/// A signed list: `file` and/or `url`, `trusted_keys`, and with `url`
/// the updater's keys of `[list]`, with the same bounds and defaults.
fn signed(t: &mut Table<'_, '_>) -> Option<ListOrigin> {
    use extract::{duration, https_url, path};
    let url_given = t.has("url");
    let url = t.get("url", https_url);
    let url_ok = !matches!(url, Got::Bad);
    let file = t.get("file", path);
    let file_ok = !matches!(file, Got::Bad);
    let trusted_keys = match t.list("trusted_keys", extract::public_key_file) {
        Got::Ok(keys) if !keys.is_empty() => Some(keys),
        Got::Bad => None,
        Got::Missing | Got::Ok(_) => {
            t.error(
                "trusted_keys",
                "required with `file` or `url`: list the .pub file(s) of the key(s) this list is signed with",
            );
            None
        }
    };
    let update = if url_given {
        let ca_file = t.get("ca_file", extract::ca_file);
        let max_size = match t.get("max_size", extract::byte_size) {
            Got::Ok(n) if n < MIN_MAX_LIST_SIZE => {
                t.error(
                    "max_size",
                    format!(
                        "{n} bytes is too small for any list; the minimum is {MIN_MAX_LIST_SIZE}"
                    ),
                );
                None
            }
            Got::Bad => None,
            got => Some(got.or(DEFAULT_MAX_LIST_SIZE)),
        };
        let poll_interval = t.get(
            "poll_interval",
            duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        );
        let timeout = t.get("timeout", duration(MIN_FETCH_TIMEOUT, MAX_FETCH_TIMEOUT));
        let bad = matches!(ca_file, Got::Bad)
            || matches!(poll_interval, Got::Bad)
            || matches!(timeout, Got::Bad);
        match (url.ok(), max_size, bad) {
            (Some(url), Some(max_size), false) => Some(Some(ListUpdate {
                url,
                poll_interval: poll_interval.or(DEFAULT_POLL_INTERVAL),
                timeout: timeout.or(DEFAULT_FETCH_TIMEOUT),
                max_size,
                ca_file: ca_file.ok(),
            })),
            _ => None,
        }
    } else {
        for key in ["poll_interval", "ca_file", "timeout", "max_size"] {
            if t.has(key) {
                let _ = t.get(key, |_| Ok(()));
                t.error(key, "only used with `url`; set `url` or remove this key");
            }
        }
        Some(None)
    };
    if !(url_ok && file_ok) {
        return None;
    }
    Some(ListOrigin::Signed {
        file: file.ok(),
        trusted_keys: trusted_keys?,
        update: update?,
    })
}
