//! The collector's node registry: which public key each `(isp_id,
//! node_id)` signs its compliance reports with. A TOML file of its own,
//! named by the collector config's `registry` key, read with the same
//! every-error-at-once machinery as the configs:
//!
//! ```toml
//! [[node]]
//! isp_id = "vnpt"
//! node_id = "hn-01"
//! key = "nodes/vnpt-hn-01.pub"     # a .pub file from `ward keygen`
//!
//! [[node]]
//! isp_id = "viettel"
//! node_id = "hcm-02"
//! public_key = "ward-ed25519-public-v1 <64 hex>"   # or the key inline
//! ```
//!
//! Each node has exactly one key, and a key belongs to one node: the key id
//! in a report's `Ward-Signature` header alone finds the node, so the body
//! is parsed only after its signature verified.
//!
//! Probers (`ward probe --report-to`) are registered the same way, each
//! with a key of its own that is no node's key (nor another prober's):
//!
//! ```toml
//! [[prober]]
//! prober_id = "ministry-hn"
//! key = "probers/ministry-hn.pub"   # or public_key = "…"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::extract::{self, Got, Invalid, Table};
use super::report::identifier;
use super::{ConfigErrors, parse_with_extract, read_text};
use crate::keys::{self, KeyId};

/// One registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredNode {
    pub isp_id: String,
    pub node_id: String,
    /// The key its reports must be signed with.
    pub key: VerifyingKey,
}

/// One registered prober.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredProber {
    pub prober_id: String,
    /// The key its probe results must be signed with.
    pub key: VerifyingKey,
}

/// Every registered node and prober, found by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    nodes: Vec<RegisteredNode>,
    by_key: HashMap<KeyId, usize>,
    probers: Vec<RegisteredProber>,
    prober_by_key: HashMap<KeyId, usize>,
}

impl Registry {
    /// Reads and validates a registry file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Validates registry text; `file_label` names it in errors. Reads
    /// every `key` file.
    pub fn parse(text: &str, file_label: &str) -> Result<Self, ConfigErrors> {
        parse_with_extract(text, file_label, Self::extract)
    }

    fn extract(mut root: Table<'_, '_>) -> Self {
        let (nodes, node_keys) = read_nodes(&mut root);
        let probers = read_probers(&mut root, &node_keys);
        let mut registry = Self::from_nodes(nodes);
        registry.set_probers(probers);
        registry
    }

    /// Registers `probers` (replacing any; a duplicate key keeps the
    /// first).
    pub fn set_probers(&mut self, probers: Vec<RegisteredProber>) {
        self.prober_by_key.clear();
        for (i, p) in probers.iter().enumerate() {
            self.prober_by_key.entry(KeyId::of(&p.key)).or_insert(i);
        }
        self.probers = probers;
    }

    /// The prober whose key has this id.
    pub fn prober_by_key(&self, key_id: &KeyId) -> Option<&RegisteredProber> {
        self.prober_by_key
            .get(key_id)
            .and_then(|&i| self.probers.get(i))
    }

    /// Every prober, in file order.
    pub fn probers(&self) -> &[RegisteredProber] {
        &self.probers
    }

    /// A registry of `nodes` (tests; a duplicate key keeps the first node).
    pub fn from_nodes(nodes: Vec<RegisteredNode>) -> Self {
        let mut by_key = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            by_key.entry(KeyId::of(&n.key)).or_insert(i);
        }
        Self {
            nodes,
            by_key,
            ..Self::default()
        }
    }

    /// The node whose key has this id.
    pub fn by_key(&self, key_id: &KeyId) -> Option<&RegisteredNode> {
        self.by_key.get(key_id).and_then(|&i| self.nodes.get(i))
    }

    /// Every node, in file order.
    pub fn nodes(&self) -> &[RegisteredNode] {
        &self.nodes
    }
}

fn required<T>(
    t: &mut Table<'_, '_>,
    table: &str,
    key: &'static str,
    parse: impl FnOnce(&toml::de::DeValue<'_>) -> Result<T, Invalid>,
    what: &str,
) -> Option<T> {
    match t.get(key, parse) {
        Got::Missing => {
            t.error(key, format!("required in [[{table}]]: {what}"));
            None
        }
        got => got.ok(),
    }
}

/// `key` (a .pub file) or `public_key` (the key inline), exactly one, of
/// a `[[node]]` or `[[prober]]` (`table`).
fn node_key(t: &mut Table<'_, '_>, table: &str) -> Option<VerifyingKey> {
    let from_file = t.get("key", |v| {
        let p: PathBuf = extract::path(v)?;
        keys::read_public(&p).map_err(|e| Invalid(e.to_string()))
    });
    let inline = t.get("public_key", |v| {
        let text = extract::string(v)?;
        keys::parse_public(text).map_err(|e| {
            Invalid(format!(
                "{e}; paste the key line of a .pub file (`ward-ed25519-public-v1 <64 hex>`)"
            ))
        })
    });
    match (from_file, inline) {
        (Got::Missing, Got::Missing) => {
            t.error(
                "key",
                format!(
                    "required in [[{table}]]: the {table}'s .pub file (key = \"...\") or the key itself (public_key = \"...\")"
                ),
            );
            None
        }
        (Got::Ok(_) | Got::Bad, Got::Ok(_) | Got::Bad) => {
            t.error(
                "public_key",
                format!("give key or public_key, not both: a {table} has one key"),
            );
            None
        }
        (file, inline) => file.ok().or(inline.ok()),
    }
}

/// Every `[[node]]`, each id and each key once; also who holds each key.
fn read_nodes(root: &mut Table<'_, '_>) -> (Vec<RegisteredNode>, HashMap<KeyId, (String, String)>) {
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    let mut by_key: HashMap<KeyId, (String, String)> = HashMap::new();
    let nodes = root.tables("node", |mut t| {
        let isp_id = required(&mut t, "node", "isp_id", identifier, "the ISP's id");
        let node_id = required(&mut t, "node", "node_id", identifier, "the node's id");
        let key = node_key(&mut t, "node");
        let (isp_id, node_id, key) = (isp_id?, node_id?, key?);
        let here = t.path_of("");
        let here = here.trim_end_matches('.').to_owned();
        let id = (isp_id.clone(), node_id.clone());
        if let Some(first) = seen.get(&id) {
            t.error(
                "node_id",
                format!("{isp_id}/{node_id} is already registered in {first}; each node once"),
            );
            return None;
        }
        let key_id = KeyId::of(&key);
        if let Some((isp, node)) = by_key.get(&key_id) {
            let key_name = if t.has("key") { "key" } else { "public_key" };
            t.error(
                key_name,
                format!(
                    "key {key_id} is already registered for {isp}/{node}; every node needs a key of its own (`ward keygen`)"
                ),
            );
            return None;
        }
        seen.insert(id.clone(), here);
        by_key.insert(key_id, id);
        Some(RegisteredNode {
            isp_id,
            node_id,
            key,
        })
    });
    let nodes = match nodes {
        Got::Missing => {
            root.error_unplaced(
                "node",
                "no [[node]] registered: every report would be refused; add one [[node]] per ward node with its isp_id, node_id and key",
            );
            Vec::new()
        }
        got => got.or(Vec::new()),
    };
    (nodes, by_key)
}

/// Every `[[prober]]`, each id and each key once, and no node's key.
fn read_probers(
    root: &mut Table<'_, '_>,
    by_key: &HashMap<KeyId, (String, String)>,
) -> Vec<RegisteredProber> {
    let mut seen_probers: HashMap<String, String> = HashMap::new();
    let mut prober_keys: HashMap<KeyId, String> = HashMap::new();
    let probers = root.tables("prober", |mut t| {
        let prober_id = required(&mut t, "prober", "prober_id", identifier, "the prober's id");
        let key = node_key(&mut t, "prober");
        let (prober_id, key) = (prober_id?, key?);
        let here = t.path_of("");
        let here = here.trim_end_matches('.').to_owned();
        if let Some(first) = seen_probers.get(&prober_id) {
            t.error(
                "prober_id",
                format!("prober {prober_id} is already registered in {first}; each prober once"),
            );
            return None;
        }
        let key_id = KeyId::of(&key);
        let key_name = if t.has("key") { "key" } else { "public_key" };
        if let Some((isp, node)) = by_key.get(&key_id) {
            t.error(
                key_name,
                format!(
                    "key {key_id} is node {isp}/{node}'s key; a prober needs a key of its own (`ward keygen`), so a node's report can never pass for a probe"
                ),
            );
            return None;
        }
        if let Some(other) = prober_keys.get(&key_id) {
            t.error(
                key_name,
                format!(
                    "key {key_id} is already registered for prober {other}; every prober needs a key of its own (`ward keygen`)"
                ),
            );
            return None;
        }
        seen_probers.insert(prober_id.clone(), here);
        prober_keys.insert(key_id, prober_id.clone());
        Some(RegisteredProber { prober_id, key })
    });
    probers.or(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> VerifyingKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    fn inline(seed: u8) -> String {
        keys::public_file_text(&key(seed))
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    fn parse(text: &str) -> Result<Registry, Vec<String>> {
        Registry::parse(text, "r.toml").map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn nodes_are_found_by_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let pub_file = dir.path().join("n2.pub");
        std::fs::write(&pub_file, keys::public_file_text(&key(2))).unwrap();
        let text = format!(
            "[[node]]\nisp_id = \"isp-a\"\nnode_id = \"n1\"\npublic_key = \"{}\"\n\n[[node]]\nisp_id = \"isp-b\"\nnode_id = \"n2\"\nkey = {pub_file:?}\n",
            inline(1)
        );
        let r = parse(&text).unwrap();
        assert_eq!(r.nodes().len(), 2);
        let n = r.by_key(&KeyId::of(&key(2))).unwrap();
        assert_eq!((n.isp_id.as_str(), n.node_id.as_str()), ("isp-b", "n2"));
        assert_eq!(r.by_key(&KeyId::of(&key(1))).unwrap().node_id, "n1");
        assert!(r.by_key(&KeyId::of(&key(3))).is_none());
    }

    #[test]
    fn every_problem_at_once_with_lines() {
        let text = format!(
            "[[node]]\nisp_id = \"isp a\"\nnode_id = \"n1\"\npublic_key = \"{k1}\"\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n1\"\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n2\"\npublic_key = \"{k1}\"\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n2\"\npublic_key = \"{k2}\"\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n3\"\npublic_key = \"{k3}\"\nkey = \"x.pub\"\nextra = 1\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n4\"\npublic_key = \"nonsense\"\n\
             [[node]]\nisp_id = \"isp\"\nnode_id = \"n5\"\npublic_key = \"{k1}\"\n",
            k1 = inline(1),
            k2 = inline(2),
            k3 = inline(3),
        );
        let errors = parse(&text).unwrap_err();
        let want = [
            "r.toml:2: node[0].isp_id: invalid identifier \"isp a\"",
            "node[1].key: required in [[node]]",
            "node[3].node_id: isp/n2 is already registered in node[2]",
            "node[4].key: ",
            "node[4].public_key: give key or public_key, not both",
            "node[4].extra: unknown key",
            "r.toml:25: node[5].public_key: ",
            "r.toml:29: node[6].public_key: key ",
        ];
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        for w in want {
            assert!(errors.iter().any(|e| e.contains(w)), "{w}\nin {errors:#?}");
        }
    }

    #[test]
    fn probers_are_found_by_key_and_checked_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let pub_file = dir.path().join("p.pub");
        std::fs::write(&pub_file, keys::public_file_text(&key(5))).unwrap();
        let text = format!(
            "[[node]]\nisp_id = \"isp\"\nnode_id = \"n1\"\npublic_key = \"{k1}\"\n\
             [[prober]]\nprober_id = \"ministry-hn\"\nkey = {pub_file:?}\n\
             [[prober]]\nprober_id = \"p2\"\npublic_key = \"{k6}\"\n",
            k1 = inline(1),
            k6 = inline(6),
        );
        let r = parse(&text).unwrap();
        assert_eq!(r.probers().len(), 2);
        let p = r.prober_by_key(&KeyId::of(&key(5))).unwrap();
        assert_eq!(p.prober_id, "ministry-hn");
        assert!(
            r.prober_by_key(&KeyId::of(&key(1))).is_none(),
            "a node's key"
        );
        assert!(r.by_key(&KeyId::of(&key(5))).is_none(), "a prober's key");

        let text = format!(
            "[[node]]\nisp_id = \"isp\"\nnode_id = \"n1\"\npublic_key = \"{k1}\"\n\
             [[prober]]\nprober_id = \"p1\"\npublic_key = \"{k1}\"\n\
             [[prober]]\nprober_id = \"p2\"\npublic_key = \"{k2}\"\n\
             [[prober]]\nprober_id = \"p2\"\npublic_key = \"{k3}\"\n\
             [[prober]]\nprober_id = \"p3\"\npublic_key = \"{k2}\"\n\
             [[prober]]\nprober_id = \"bad id\"\n\
             [[prober]]\nprober_id = \"p4\"\npublic_key = \"{k4}\"\nkey = \"x.pub\"\nisp_id = \"isp\"\n",
            k1 = inline(1),
            k2 = inline(2),
            k3 = inline(3),
            k4 = inline(4),
        );
        let errors = parse(&text).unwrap_err();
        let want = [
            "r.toml:7: prober[0].public_key: key ",
            "is node isp/n1's key; a prober needs a key of its own",
            "r.toml:12: prober[2].prober_id: prober p2 is already registered in prober[1]",
            "r.toml:16: prober[3].public_key: key ",
            "is already registered for prober p2",
            "r.toml:18: prober[4].prober_id: invalid identifier \"bad id\"",
            "prober[4].key: required in [[prober]]: the prober's .pub file",
            "prober[5].public_key: give key or public_key, not both: a prober has one key",
            "prober[5].key: cannot read key file x.pub",
            "prober[5].isp_id: unknown key",
        ];
        for w in want {
            assert!(errors.iter().any(|e| e.contains(w)), "{w}\nin {errors:#?}");
        }
        assert_eq!(errors.len(), 8, "one error per problem: {errors:#?}");
    }

    #[test]
    fn an_empty_registry_is_an_error() {
        let errors = parse("").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("no [[node]] registered"), "{errors:?}");
    }
}
