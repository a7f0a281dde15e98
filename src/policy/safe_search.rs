//! Safe search: the names of a search engine that a profile sends to the
//! engine's restricted host instead.
//!
//! The engines' tables are data, `data/safe_search.toml`, compiled in:
//! for each [`Engine`], the exact names clients ask for and the host the
//! engine documents for networks that enforce its safe search
//! (`forcesafesearch.google.com`, `restrict.youtube.com`, …). A profile's
//! [`SafeSearch`] settings say which engines it enforces;
//! [`SafeSearch::rewrite`] gives the [`Rewrite`] of a name, if any. The
//! DNS engine turns it into an answer (a CNAME to the target and the
//! target's own records); `ward check` explains it.
//!
//! The national list and the profile's own lists are asked first: a name
//! they block stays blocked.
//!
//! Pure: no I/O, no metrics, no configuration types.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::name::key_of_text;
use crate::domain::NameKey;

/// The file the tables are read from, compiled in.
const DATA: &str = include_str!("../../data/safe_search.toml");

/// A search engine (or YouTube) with a safe-search host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Google,
    YouTube,
    Bing,
    DuckDuckGo,
    Ecosia,
    Pixabay,
}

impl Engine {
    /// Every engine, in the order of [`Engine::index`].
    pub const ALL: [Self; 6] = [
        Self::Google,
        Self::YouTube,
        Self::Bing,
        Self::DuckDuckGo,
        Self::Ecosia,
        Self::Pixabay,
    ];

    /// Its key in `[profile.safe_search]`, its table in the data file and
    /// its `engine` label in `ward_safe_search_rewrites_total`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::YouTube => "youtube",
            Self::Bing => "bing",
            Self::DuckDuckGo => "duckduckgo",
            Self::Ecosia => "ecosia",
            Self::Pixabay => "pixabay",
        }
    }

    /// Its place in [`Engine::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// YouTube's Restricted Mode, set apart from the other engines because it
/// also hides comments (`youtube = "strict" | "moderate" | "off"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum YouTube {
    #[default]
    Off,
    Moderate,
    Strict,
}

impl YouTube {
    /// The values `youtube` takes, as written in the config.
    pub const VALUES: [(&'static str, Self); 3] = [
        ("strict", Self::Strict),
        ("moderate", Self::Moderate),
        ("off", Self::Off),
    ];

    fn is_off(&self) -> bool {
        *self == Self::Off
    }
}

/// A profile's `[profile.safe_search]`: every engine off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SafeSearch {
    #[serde(skip_serializing_if = "is_false")]
    pub google: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub bing: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub duckduckgo: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub ecosia: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub pixabay: bool,
    #[serde(skip_serializing_if = "YouTube::is_off")]
    pub youtube: YouTube,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a profile does with one name: send it to the engine's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub engine: Engine,
    /// The host the name is a CNAME to.
    pub target: &'static Target,
}

/// A safe-search host.
#[derive(Debug)]
pub struct Target {
    /// As written, without the final dot: `forcesafesearch.google.com`.
    pub name: &'static str,
    /// Its lookup key (for the list checks and the cache).
    pub key: NameKey,
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Target {}

impl SafeSearch {
    /// No engine on: nothing is rewritten.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// The rewrite of the name with `key` (reversed-label bytes), if it is
    /// one of an engine this profile enforces. One hash lookup, none when
    /// every engine is off.
    #[inline]
    pub fn rewrite(&self, key: &[u8]) -> Option<Rewrite> {
        if self.is_off() {
            return None;
        }
        let tables = tables();
        let engine = *tables.by_key.get(key)?;
        let table = &tables.engines[engine.index()];
        let target = match engine {
            Engine::Google if self.google => &table.target,
            Engine::Bing if self.bing => &table.target,
            Engine::DuckDuckGo if self.duckduckgo => &table.target,
            Engine::Ecosia if self.ecosia => &table.target,
            Engine::Pixabay if self.pixabay => &table.target,
            Engine::YouTube => match self.youtube {
                YouTube::Strict => &table.target,
                YouTube::Moderate => table.moderate.as_ref()?,
                YouTube::Off => return None,
            },
            _ => return None,
        };
        Some(Rewrite { engine, target })
    }
}

/// One engine's table, as read from the data file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineData {
    target: String,
    #[serde(default)]
    moderate: Option<String>,
    names: Vec<String>,
}

/// The tables, ready for lookups.
#[derive(Debug)]
pub struct Tables {
    /// Every name of every engine, by key.
    by_key: HashMap<Box<[u8]>, Engine>,
    /// By [`Engine::index`].
    engines: Vec<EngineTable>,
}

#[derive(Debug)]
struct EngineTable {
    target: Target,
    moderate: Option<Target>,
    names: Vec<&'static str>,
}

impl Tables {
    /// The names clients of `engine` ask for, as written in the data file.
    pub fn names(&self, engine: Engine) -> &[&'static str] {
        &self.engines[engine.index()].names
    }

    /// The engine a name (its key) belongs to, whatever any profile says.
    pub fn engine_of(&self, key: &[u8]) -> Option<Engine> {
        self.by_key.get(key).copied()
    }
}

/// The compiled-in tables, read on first use.
pub fn tables() -> &'static Tables {
    static TABLES: LazyLock<Tables> = LazyLock::new(|| {
        // The data file is compiled in, and `tests::data_file_is_well_formed`
        // reads it with this very function: it cannot fail in a build
        // whose tests pass.
        #[allow(clippy::expect_used)]
        parse(DATA).expect("data/safe_search.toml is checked by the unit tests")
    });
    &TABLES
}

/// Reads the data file: every engine exactly once, every name and target
/// a valid host name, no name twice.
fn parse(text: &'static str) -> Result<Tables, String> {
    let raw: HashMap<String, EngineData> =
        toml::from_str(text).map_err(|e| format!("data/safe_search.toml: {e}"))?;
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let target = |name: String| -> Result<Target, String> {
        let key = key_of_text(name.as_bytes()).map_err(|e| format!("target {name:?}: {e:?}"))?;
        Ok(Target {
            name: leak(name),
            key,
        })
    };
    if let Some(unknown) = raw
        .keys()
        .find(|k| !Engine::ALL.iter().any(|e| e.as_str() == k.as_str()))
    {
        return Err(format!("unknown engine {unknown:?}"));
    }
    let mut raw = raw;
    let mut by_key = HashMap::new();
    let mut engines = Vec::new();
    for engine in Engine::ALL {
        let data = raw
            .remove(engine.as_str())
            .ok_or_else(|| format!("no table for {}", engine.as_str()))?;
        if data.moderate.is_some() != (engine == Engine::YouTube) {
            return Err(format!(
                "{}: `moderate` is YouTube's alone",
                engine.as_str()
            ));
        }
        let mut names = Vec::new();
        for name in data.names {
            let well_formed =
                crate::domain::DomainName::parse(&name).is_ok_and(|d| d.as_str() == name.as_str());
            let key = key_of_text(name.as_bytes())
                .ok()
                .filter(|_| well_formed)
                .ok_or_else(|| format!("{}: invalid name {name:?}", engine.as_str()))?;
            if by_key.insert(key.as_bytes().into(), engine).is_some() {
                return Err(format!("{}: {name:?} is listed twice", engine.as_str()));
            }
            names.push(leak(name));
        }
        engines.push(EngineTable {
            target: target(data.target)?,
            moderate: data.moderate.map(target).transpose()?,
            names,
        });
    }
    Ok(Tables { by_key, engines })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> NameKey {
        key_of_text(name.as_bytes()).unwrap()
    }

    #[test]
    fn data_file_is_well_formed() {
        let tables = parse(DATA).unwrap();
        for engine in Engine::ALL {
            assert!(
                !tables.names(engine).is_empty(),
                "{} has names",
                engine.as_str()
            );
        }
    }

    /// Every Google name is `www.google.<TLD>`: `www.google.` and then one
    /// country code, `com`, `cat`, or `co.`/`com.` and a country code; all
    /// lower case, no trailing dot, none twice (checked by `parse`).
    #[test]
    fn every_google_domain_is_well_formed() {
        let tables = tables();
        let names = tables.names(Engine::Google);
        assert!(names.len() > 150, "all of Google's country domains");
        let cc = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase());
        for name in names {
            let tld = name
                .strip_prefix("www.google.")
                .unwrap_or_else(|| panic!("{name} is not www.google.<TLD>"));
            let ok = match tld.split('.').collect::<Vec<_>>()[..] {
                ["com"] | ["cat"] => true,
                [one] => cc(one),
                ["co" | "com", two] => cc(two),
                _ => false,
            };
            assert!(ok, "{name}: {tld} is not a Google country domain");
            assert_eq!(tables.engine_of(key(name).as_bytes()), Some(Engine::Google));
        }
        for must in ["www.google.com", "www.google.com.vn", "www.google.co.uk"] {
            assert!(names.contains(&must), "{must}");
        }
    }

    #[test]
    fn rewrites_only_the_engines_a_profile_turns_on() {
        let off = SafeSearch::default();
        assert!(off.is_off());
        assert_eq!(off.rewrite(key("www.google.com.vn").as_bytes()), None);
        let google = SafeSearch {
            google: true,
            ..SafeSearch::default()
        };
        let rw = google.rewrite(key("www.google.com.vn").as_bytes()).unwrap();
        assert_eq!(rw.engine, Engine::Google);
        assert_eq!(rw.target.name, "forcesafesearch.google.com");
        assert_eq!(
            rw.target.key.as_bytes(),
            key("forcesafesearch.google.com").as_bytes()
        );
        // Exact names only: not a parent, not a child, not another engine.
        for other in [
            "google.com.vn",
            "x.www.google.com",
            "www.youtube.com",
            "www.bing.com",
        ] {
            assert_eq!(google.rewrite(key(other).as_bytes()), None, "{other}");
        }
        let all = SafeSearch {
            google: true,
            bing: true,
            duckduckgo: true,
            ecosia: true,
            pixabay: true,
            youtube: YouTube::Moderate,
        };
        let target = |name: &str| all.rewrite(key(name).as_bytes()).map(|r| r.target.name);
        assert_eq!(
            target("www.youtube.com"),
            Some("restrictmoderate.youtube.com")
        );
        assert_eq!(
            target("youtubei.googleapis.com"),
            Some("restrictmoderate.youtube.com")
        );
        assert_eq!(target("www.bing.com"), Some("strict.bing.com"));
        assert_eq!(target("edgeservices.bing.com"), Some("strict.bing.com"));
        assert_eq!(target("duckduckgo.com"), Some("safe.duckduckgo.com"));
        assert_eq!(
            target("www.ecosia.org"),
            Some("strict-safe-search.ecosia.org")
        );
        assert_eq!(target("pixabay.com"), Some("safesearch.pixabay.com"));
        let strict = SafeSearch {
            youtube: YouTube::Strict,
            ..SafeSearch::default()
        };
        let rw = strict.rewrite(key("m.youtube.com").as_bytes()).unwrap();
        assert_eq!(
            (rw.engine, rw.target.name),
            (Engine::YouTube, "restrict.youtube.com")
        );
        assert_eq!(strict.rewrite(key("www.google.com").as_bytes()), None);
    }

    #[test]
    fn bad_data_is_refused() {
        let bad = [
            "[google]\ntarget = \"a.b\"\nnames = [\"www.google.com\"]\n[nope]\ntarget=\"x.y\"\nnames=[]",
            "[google]\ntarget = \"a.b\"\nnames = [\"bad name\"]",
        ];
        for text in bad {
            assert!(parse(text).is_err(), "{text}");
        }
        // Engines engine by engine: a missing one is an error too.
        assert!(parse("[google]\ntarget = \"a.b\"\nnames = [\"www.google.com\"]").is_err());
    }
}
