//! `[[lists]]`: extra lists that `[[profile]]` entries apply, each either
//! a plain `source` file or a signed `file` with its own `trusted_keys`.
//!
//! A source file is checked line by line here, so that `ward config
//! check` names every bad line (`file:line`); it is compiled when ward
//! loads it. A signed file is verified when ward loads it, like the
//! national list; here only its keys are read.

use std::path::Path;

use super::extract::{self, Got, Invalid, Table};
use crate::list::source::parse_line;
use crate::profiles::{
    ExtraListSettings, ListOrigin, MAX_NAME_LEN, NATIONAL_LIST_NAME, valid_name,
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
        other => other,
    };
    if t.has("url") {
        let _ = t.get("url", |_| Ok(()));
        t.error(
            "url",
            "not supported yet in [[lists]]: give the signed artifact as `file` (with `trusted_keys`); a new version needs a restart",
        );
    }
    let origin = match (t.has("source"), t.has("file")) {
        (true, true) => {
            // Known keys, both: only the clash is reported.
            let _ = (t.get("source", |_| Ok(())), t.get("file", |_| Ok(())));
            t.error("file", "set either `source` or `file`, not both");
            None
        }
        (true, false) => source(&mut t),
        (false, true) => signed(&mut t),
        (false, false) => {
            t.error(
                "source",
                "required: set `source` (a plain list file) or `file` (a signed list, with `trusted_keys`)",
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

fn signed(t: &mut Table<'_, '_>) -> Option<ListOrigin> {
    let file = t.get("file", extract::path).ok();
    let trusted_keys = match t.list("trusted_keys", extract::public_key_file) {
        Got::Ok(keys) if !keys.is_empty() => Some(keys),
        Got::Bad => None,
        Got::Missing | Got::Ok(_) => {
            t.error(
                "trusted_keys",
                "required with `file`: list the .pub file(s) of the key(s) this list is signed with",
            );
            None
        }
    };
    Some(ListOrigin::Signed {
        file: file?,
        trusted_keys: trusted_keys?,
    })
}
