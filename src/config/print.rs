//! A config written back out as TOML, by the `Serialize` of the settings
//! types themselves: each key is spelled where its field is declared.

use super::Config;

/// Where the embedded demo list is noted in the `[list]` section.
const DEMO_NOTE: &str = "# the embedded demo list and key (not expressible in a file)";

impl Config {
    /// Every key as TOML, such that [`Config::parse`] gives back an equal
    /// config. For file configs only: the embedded demo list
    /// ([`ListSettings::demo`](super::ListSettings::demo)) has no TOML
    /// spelling and is written as a comment, and paths that are not UTF-8
    /// are written lossily.
    pub fn to_toml(&self) -> String {
        // Every value is written as a string, a boolean, an integer that
        // fits in an i64 (`spelling::count` and `spelling::byte_size`
        // write larger ones as strings), an array or a table, all of
        // which TOML can hold; no section holds a key after a sub-table.
        let text = toml::to_string(self).expect("every config value has a TOML spelling");
        if !self.list.demo {
            return text;
        }
        text.replacen("[list]\n", &format!("[list]\n{DEMO_NOTE}\n"), 1)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::*;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    /// A config with every section and every optional key, naming real
    /// files (a CA bundle, a node key, a page template) in `dir`.
    fn every_key(dir: &Path) -> String {
        let ca = dir.join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let key = crate::keys::generate().unwrap();
        crate::keys::write_pair(&dir.join("node"), &key, false).unwrap();
        let template = dir.join("page.html");
        std::fs::write(&template, crate::blockpage::template::EMBEDDED).unwrap();
        let (ca, node, template) = (ca.display(), dir.join("node.key"), template.display());
        let node = node.display();
        format!(
            r#"[dns]
upstreams = ["192.0.2.53"]
[list]
file = "{DEMO_WARD}"
trusted_keys = ["{DEMO_PUB}"]
url = "https://lists.example/national.ward"
ca_file = "{ca}"
poll_interval = "90s"
max_size = 5000
[admin]
listen = "off"
[sni]
listen = ["0.0.0.0:8443"]
mode = "tproxy"
max_hello_size = "64KiB"
mark = 0x10
[http]
listen = ["0.0.0.0:8080"]
max_head_size = 4096
relay = "copy"
[blockpage]
listen = ["192.0.2.1:80"]
template = "{template}"
max_head_size = 1000
[report]
isp_id = "isp"
node_id = "n1"
key = "{node}"
url = "https://collector.example/v1/reports"
ca_file = "{ca}"
interval = "1h 30m"
"#
        )
    }

    #[test]
    fn every_section_and_optional_key_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse_with(&every_key(dir.path()), "t.toml", || None).unwrap();
        let text = config.to_toml();
        let back = Config::parse_with(&text, "round-trip", || None)
            .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"));
        assert_eq!(back, config, "{text}");
        // The keys as the reader spells them, not as the fields are named.
        for line in [
            "[list]\n",
            "ca_file = ",
            "action = \"sinkhole\"",
            "sinkhole_ipv4 = [\"0.0.0.0\"]",
            "listen = \"off\"",
            "max_hello_size = \"64KiB\"",
            "max_head_size = \"4KiB\"",
            "max_head_size = 1000",
            "mode = \"tproxy\"",
            "relay = \"copy\"",
            "interval = \"1h 30m\"",
            "max_size = 5000",
        ] {
            assert!(text.contains(line), "no {line:?} in:\n{text}");
        }
        for section in ["dns", "cache", "limits", "list", "block", "admin", "log"] {
            assert!(text.contains(&format!("[{section}]\n")), "{text}");
        }
        let order: Vec<usize> = ["[sni]", "[http]", "[blockpage]", "[report]"]
            .iter()
            .map(|s| text.find(s).unwrap_or_else(|| panic!("no {s} in:\n{text}")))
            .collect();
        assert!(order.is_sorted(), "{text}");
    }

    #[test]
    fn updater_keys_only_with_a_url() {
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = \"{DEMO_WARD}\"\ntrusted_keys = [\"{DEMO_PUB}\"]\n"
        );
        let config = Config::parse_with(&text, "t.toml", || None).unwrap();
        let text = config.to_toml();
        for key in ["url", "poll_interval", "timeout", "max_size", "ca_file"] {
            assert!(!text.contains(&format!("\n{key} = ")), "{key} in:\n{text}");
        }
        assert!(!text.contains("[process]"), "{text}");
        assert_eq!(
            Config::parse_with(&text, "t.toml", || None).unwrap(),
            config
        );
    }
}
