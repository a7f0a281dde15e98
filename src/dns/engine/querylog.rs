//! The query log: off by default (children's browsing is private); when
//! on, one line per query with the client's network (never its full
//! address) and, for a confidential rule, never the name.

use std::net::IpAddr;

use tracing::info;

use super::Engine;
use crate::domain::NameKey;
use crate::list::ListArtifact;
use crate::policy::Block;

impl Engine {
    pub(super) fn log(
        &self,
        client: IpAddr,
        active: &ListArtifact,
        key: &NameKey,
        qtype: u16,
        block: Option<&Block>,
        verdict: &str,
    ) {
        if !self.settings.query_log {
            return;
        }
        let name = match block {
            Some(b) if b.confidential() => format!("confidential:{}", active.redacted(key)),
            _ => NameKey::to_forward(key.as_bytes()),
        };
        let category = block.map(|b| b.category_name(active));
        let client = truncate_client(client);
        info!(target: "ward::query", %client, name, qtype, verdict, category, "query");
    }
}

/// The client's network as the query log records it: IPv4 to its /24 and
/// IPv6 to its /56 (a household's prefix, not a device), so the log never
/// holds a full subscriber address.
pub fn truncate_client(ip: IpAddr) -> ipnet::IpNet {
    let prefix = if ip.is_ipv4() { 24 } else { 56 };
    // Both prefix lengths are valid for their family.
    ipnet::IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| ipnet::IpNet::from(ip))
}

#[cfg(test)]
mod tests {
    use super::truncate_client;

    #[test]
    fn query_log_keeps_only_the_clients_network() {
        let t = |s: &str| truncate_client(s.parse().unwrap()).to_string();
        assert_eq!(t("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(t("2001:db8:aa:bbcc:1:2:3:4"), "2001:db8:aa:bb00::/56");
        assert_eq!(t("127.0.0.1"), "127.0.0.0/24");
    }
}
