//! A config written back out as TOML (`ward config check --print`).

use std::fmt;
use std::time::Duration;

use super::*;

impl Config {
    /// Every key as TOML, such that [`Config::parse`] gives back an equal
    /// config. For file configs only: the embedded demo list
    /// ([`ListSettings::demo`]) has no TOML spelling and is written as a
    /// comment, and paths that are not UTF-8 are written lossily.
    pub fn to_toml(&self) -> String {
        fn q(text: &str) -> String {
            toml::Value::String(text.to_owned()).to_string()
        }
        fn qp(path: &Path) -> String {
            q(&path.to_string_lossy())
        }
        fn d(duration: Duration) -> String {
            q(&humantime::format_duration(duration).to_string())
        }
        fn arr<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
            let items: Vec<String> = items.iter().map(f).collect();
            format!("[{}]", items.join(", "))
        }
        let show = |x: &dyn fmt::Display| q(&x.to_string());
        let (dns, cache, list, block) = (&self.dns, &self.cache, &self.list, &self.block);
        let mut out = vec![
            "[dns]".to_owned(),
            format!("listen = {}", arr(&dns.listen, |a| show(a))),
            format!("upstreams = {}", arr(&dns.upstreams, |a| show(a))),
            format!("allow_clients = {}", arr(&dns.allow_clients, |n| show(n))),
            format!("upstream_timeout = {}", d(dns.upstream_timeout)),
            format!("upstream_attempts = {}", dns.upstream_attempts),
            format!("tcp_idle_timeout = {}", d(dns.tcp_idle_timeout)),
            format!("tcp_max_connections = {}", dns.tcp_max_connections),
            format!("udp_workers = {}", dns.udp_workers),
            format!("edns_payload = {}", dns.edns_payload),
            String::new(),
            "[cache]".to_owned(),
            format!("max_entries = {}", cache.max_entries),
            format!(
                "max_memory = {}",
                extract::byte_size_to_toml(cache.max_memory)
            ),
            format!("min_ttl = {}", cache.min_ttl),
            format!("max_ttl = {}", cache.max_ttl),
            format!("max_negative_ttl = {}", cache.max_negative_ttl),
            String::new(),
            "[limits]".to_owned(),
            format!("client_qps = {}", self.limits.client_qps),
            format!("client_prefix_v4 = {}", self.limits.client_prefix_v4),
            format!("client_prefix_v6 = {}", self.limits.client_prefix_v6),
            format!("rrl = {}", self.limits.rrl),
            format!("slip = {}", self.limits.slip),
            format!("exempt = {}", arr(&self.limits.exempt, |n| show(n))),
            String::new(),
            "[list]".to_owned(),
        ];
        if list.demo {
            out.push("# the embedded demo list and key (not expressible in a file)".to_owned());
        }
        if let Some(file) = &list.file {
            out.push(format!("file = {}", qp(file)));
        }
        if !list.demo {
            out.push(format!(
                "trusted_keys = {}",
                arr(&list.trusted_keys, |p| qp(p))
            ));
        }
        if let Some(url) = &list.url {
            out.extend([
                format!("url = {}", q(url.as_str())),
                format!("poll_interval = {}", d(list.poll_interval)),
                format!("timeout = {}", d(list.timeout)),
                format!("max_size = {}", extract::byte_size_to_toml(list.max_size)),
            ]);
            if let Some(ca) = &list.ca_file {
                out.push(format!("ca_file = {}", qp(ca)));
            }
        }
        out.extend([
            format!("state_dir = {}", qp(&list.state_dir)),
            format!("require_list = {}", list.require_list),
            String::new(),
            "[block]".to_owned(),
            format!("action = {}", q(block.mode.as_str())),
            format!("sinkhole_ipv4 = {}", arr(&block.ipv4, |a| show(a))),
            format!("sinkhole_ipv6 = {}", arr(&block.ipv6, |a| show(a))),
            format!("ttl = {}", block.ttl),
            String::new(),
            "[admin]".to_owned(),
            format!(
                "listen = {}",
                self.admin.listen.map_or_else(|| q(ADMIN_OFF), |a| show(&a))
            ),
            String::new(),
            "[log]".to_owned(),
            format!("level = {}", q(&self.log.level)),
            format!("format = {}", q(self.log.format.as_str())),
            format!("query_log = {}", self.log.query_log),
        ]);
        for (section, cap_key, settings) in [
            ("sni", "max_hello_size", &self.sni),
            ("http", "max_head_size", &self.http),
        ] {
            if let Some(s) = settings {
                out.push(String::new());
                out.extend(s.to_toml(section, cap_key));
            }
        }
        if let Some(page) = &self.blockpage {
            out.push(String::new());
            out.extend(page.to_toml());
        }
        if let Some(user) = &self.process.user {
            out.extend([
                String::new(),
                "[process]".to_owned(),
                format!("user = {}", q(user)),
            ]);
            if let Some(group) = &self.process.group {
                out.push(format!("group = {}", q(group)));
            }
        }
        if let Some(report) = &self.report {
            out.push(String::new());
            out.extend(report.to_toml_lines(q));
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}
