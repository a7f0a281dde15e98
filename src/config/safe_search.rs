//! `[profile.safe_search]`: which engines' names a profile sends to their
//! safe-search hosts. `google`, `bing`, `duckduckgo`, `ecosia` and
//! `pixabay` are booleans; `youtube` is `"strict"`, `"moderate"` or
//! `"off"`. All off when the table is absent. An unknown engine is an
//! unknown key (with a spelling suggestion), reported with the others.

use super::extract::{self, Invalid, Table};
use crate::policy::SafeSearch;
use crate::policy::safe_search::YouTube;

/// Reads the profile's `safe_search` table (absent: every engine off).
pub(super) fn extract(profile: &mut Table<'_, '_>) -> SafeSearch {
    let mut t = profile.table("safe_search");
    let mut flag = |key: &'static str| t.get(key, extract::boolean).or(false);
    let google = flag("google");
    let bing = flag("bing");
    let duckduckgo = flag("duckduckgo");
    let ecosia = flag("ecosia");
    let pixabay = flag("pixabay");
    let youtube = t.get("youtube", youtube).or(YouTube::Off);
    SafeSearch {
        google,
        bing,
        duckduckgo,
        ecosia,
        pixabay,
        youtube,
    }
}

fn youtube(value: &toml::de::DeValue<'_>) -> Result<YouTube, Invalid> {
    let text = extract::string(value)?;
    YouTube::VALUES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|&(_, mode)| mode)
        .ok_or_else(|| {
            Invalid(format!(
                "unknown YouTube mode {text:?}: \"strict\" (Restricted Mode, which also hides comments), \"moderate\" or \"off\""
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    /// `text` after a three-line preamble (`[dns]`, `[list]`).
    fn parse(text: &str) -> Result<Config, Vec<String>> {
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n{text}"
        );
        Config::parse_with(&text, "t.toml", || None)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn reads_each_engine_and_round_trips() {
        let c = parse(
            r#"
[[profile]]
name = "primary"
clients = ["10.0.0.0/24"]
age = 10
[profile.safe_search]
google = true
bing = true
duckduckgo = false
ecosia = true
pixabay = true
youtube = "moderate"
[[profile]]
name = "staff"
clients = ["10.0.1.0/24"]
age = 18
"#,
        )
        .unwrap();
        let want = SafeSearch {
            google: true,
            bing: true,
            duckduckgo: false,
            ecosia: true,
            pixabay: true,
            youtube: YouTube::Moderate,
        };
        assert_eq!(c.profiles[0].safe_search, want);
        assert!(c.profiles[1].safe_search.is_off(), "off unless set");
        let text = c.to_toml();
        assert!(text.contains("youtube = \"moderate\""), "{text}");
        let again = Config::parse_with(&text, "again.toml", || None).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_engines_and_bad_values_are_reported_together_with_lines() {
        let got = parse(
            r#"[[profile]]
name = "primary"
clients = ["10.0.0.0/24"]
age = 200
[profile.safe_search]
gogle = true
bing = "yes"
youtube = "strict-ish"
yandex = true
"#,
        )
        .unwrap_err();
        let want = [
            ("t.toml:9:", "profile[0].age"),
            (
                "t.toml:11:",
                "unknown key `profile[0].safe_search.gogle`; did you mean `profile[0].safe_search.google`?",
            ),
            ("t.toml:12:", "profile[0].safe_search.bing"),
            ("t.toml:13:", "unknown YouTube mode \"strict-ish\""),
            ("t.toml:14:", "unknown key `profile[0].safe_search.yandex`"),
        ];
        for (line, text) in want {
            assert!(
                got.iter().any(|e| e.starts_with(line) && e.contains(text)),
                "{line} {text} in {got:#?}"
            );
        }
    }
}
