//! `ward check --config`: a name the lists allow that the profile sends to
//! a safe-search host says so, with the setting that does it.

use crate::policy::safe_search::{Engine, YouTube};
use crate::policy::{Profile, Rewrite};

/// The verdict word of a rewritten name.
const WORD: &str = "safe-search";

/// The `[profile.safe_search]` line that turns the rewrite on.
fn setting(profile: &Profile, rewrite: Rewrite) -> String {
    match rewrite.engine {
        Engine::YouTube => {
            let mode = profile.safe_search_settings().youtube;
            let word = YouTube::VALUES
                .iter()
                .find(|(_, m)| *m == mode)
                .map_or("?", |(w, _)| *w);
            format!(
                "[profile.safe_search] youtube = \"{word}\" of profile {}",
                profile.name
            )
        }
        engine => format!(
            "[profile.safe_search] {} = true of profile {}",
            engine.as_str(),
            profile.name
        ),
    }
}

/// The text lines of a check, with the rewrite (if any): the verdict word
/// becomes `safe-search`, and a line says where the name goes and why.
pub(super) fn text(mut lines: String, rewritten: Option<(&Profile, Rewrite)>) -> String {
    let Some((profile, rewrite)) = rewritten else {
        return lines;
    };
    // The first line is `NAME\tVERDICT\t...`; a name holds no tab.
    lines = lines.replacen("\tallow", &format!("\t{WORD}"), 1);
    lines.push_str(&format!(
        "\n  safe search ({}): {}: A, AAAA and HTTPS are answered with a CNAME to {} and its records, other types with NODATA",
        rewrite.engine.as_str(),
        setting(profile, rewrite),
        rewrite.target.name
    ));
    lines
}

/// The JSON line of a check, with `verdict` `safe-search` and a
/// `safe_search` object (`engine`, `target`, `setting`) for a rewrite;
/// `safe_search` is `null` otherwise.
pub(super) fn json(line: String, rewritten: Option<(&Profile, Rewrite)>) -> String {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::from_str(&line) else {
        return line;
    };
    let safe_search = match rewritten {
        None => serde_json::Value::Null,
        Some((profile, rewrite)) => {
            v.insert("verdict".into(), WORD.into());
            serde_json::json!({
                "engine": rewrite.engine.as_str(),
                "target": rewrite.target.name,
                "setting": setting(profile, rewrite),
            })
        }
    };
    v.insert("safe_search".into(), safe_search);
    serde_json::Value::Object(v).to_string()
}
