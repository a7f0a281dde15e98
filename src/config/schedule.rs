//! `[node] time_zone`, a profile's `mode` and its `[[profile.schedule]]`
//! windows.
//!
//! A window needs `days`, `start`, `end` and `categories`; `start` equal
//! to `end` is refused (an empty window, or a whole day meant as
//! `00:00`–`24:00`?). Two windows of one profile that share a category
//! may not share a minute of the week: which one's end is "until when"
//! would be ambiguous, and the overlap is almost always a typing mistake.
//! `mode = "allow_only"` needs an `allow` file with at least one name:
//! a walled garden with no way in would answer every name blocked.

use super::extract::{self, Got, Invalid, Table};
use crate::policy::schedule::{self, Window};
use crate::profiles::{Mode, NodeSettings};

/// `[node]`.
pub(super) fn node(mut t: Table<'_, '_>) -> NodeSettings {
    let d = NodeSettings::default();
    NodeSettings {
        time_zone: t
            .get("time_zone", |v| {
                crate::profiles::time_zone(extract::string(v)?).map_err(Invalid)
            })
            .or(d.time_zone),
    }
}

/// A profile's `mode`; `allow_names` is how many names its `allow` file
/// holds (`None`: no valid `allow` file).
pub(super) fn mode(t: &mut Table<'_, '_>, allow_names: Option<usize>, allow_given: bool) -> Mode {
    let mode = t.get("mode", extract::one_of(Mode::CHOICES)).or(Mode::Deny);
    if mode == Mode::AllowOnly {
        match allow_names {
            Some(0) => t.error(
                "mode",
                "\"allow_only\" with an allow file that holds no name: every name would be blocked; add the names the profile's readers may reach",
            ),
            None if !allow_given => t.error(
                "mode",
                "\"allow_only\" needs an allow source: set `allow` to a file of the names this walled garden lets through",
            ),
            _ => {}
        }
    }
    mode
}

/// The parser of a category name (the one `block_categories` uses).
pub(super) type CategoryParser = fn(&toml::de::DeValue<'_>) -> Result<String, Invalid>;

/// A profile's `[[profile.schedule]]` entries, each category read with
/// `category`.
pub(super) fn windows(t: &mut Table<'_, '_>, category: CategoryParser) -> Option<Vec<Window>> {
    // The valid windows so far, with their places.
    let mut seen: Vec<(usize, Window)> = Vec::new();
    let mut place = 0;
    let got = t.tables("schedule", |mut w| {
        let this = place;
        place += 1;
        let window = window(&mut w, category)?;
        for (i, other) in &seen {
            let shared: Vec<&str> = window
                .categories
                .iter()
                .filter(|c| other.categories.contains(c))
                .map(String::as_str)
                .collect();
            if !shared.is_empty() && window.overlaps(other) {
                w.error(
                    "categories",
                    format!(
                        "overlaps schedule[{i}] ({}) for category {}: windows of one profile that block the same category may not overlap; merge them",
                        other.describe(),
                        shared.join(", ")
                    ),
                );
            }
        }
        seen.push((this, window.clone()));
        Some(window)
    });
    match got {
        Got::Missing => Some(Vec::new()),
        Got::Bad => None,
        Got::Ok(windows) => {
            // An overlap is reported inside the closure, which cannot
            // refuse the entry (its own keys are fine): refuse here.
            let clash = windows.iter().enumerate().any(|(i, w)| {
                windows[..i]
                    .iter()
                    .any(|o| w.categories.iter().any(|c| o.categories.contains(c)) && w.overlaps(o))
            });
            (!clash).then_some(windows)
        }
    }
}

fn window(w: &mut Table<'_, '_>, category: CategoryParser) -> Option<Window> {
    let days = w.list("days", |v| {
        schedule::parse_day(extract::string(v)?).map_err(Invalid)
    });
    let days = match days {
        Got::Ok(d) if !d.is_empty() => Some(d.into_iter().fold(0, |a, b| a | b)),
        Got::Ok(_) | Got::Missing => {
            w.error("days", "required: the days the window opens on, from \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"");
            None
        }
        Got::Bad => None,
    };
    let mut clock = |key: &'static str, end: bool| match w.get(key, |v| {
        schedule::parse_clock(extract::string(v)?, end).map_err(Invalid)
    }) {
        Got::Missing => {
            w.error(key, "required: a time of day, \"HH:MM\"");
            None
        }
        got => got.ok(),
    };
    let start = clock("start", false);
    let mut end = clock("end", true);
    if let (Some(s), Some(e)) = (start, end)
        && s == e
    {
        w.error(
            "end",
            "equals `start`: the window would be empty (for a whole day write start = \"00:00\", end = \"24:00\")",
        );
        end = None;
    }
    let categories = match w.list("categories", category) {
        Got::Ok(c) if !c.is_empty() => Some(c),
        Got::Ok(_) | Got::Missing => {
            w.error(
                "categories",
                "required: the categories blocked while the window is open",
            );
            None
        }
        Got::Bad => None,
    };
    Some(Window {
        days: days?,
        start: start?,
        end: end?,
        categories: categories?,
    })
}
