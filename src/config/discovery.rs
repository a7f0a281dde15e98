//! The `[dot]` and `[doh]` sections as `dns::discovery` reads them, for
//! the `_dns.resolver.arpa` SVCB records (RFC 9462).

use super::Config;
use crate::dns::Protocol;
use crate::dns::discovery::{Discovery, Section};

impl Config {
    /// What ward designates for `_dns.resolver.arpa` under this
    /// configuration; `None`: nothing (NODATA, or the upstream's answer,
    /// as without `[dot]`/`[doh]`).
    pub fn discovery(&self) -> Option<Discovery> {
        let sections: Vec<Section<'_>> = [(Protocol::Dot, &self.dot), (Protocol::Doh, &self.doh)]
            .into_iter()
            .filter_map(|(protocol, settings)| {
                let s = settings.as_ref()?;
                Some(Section {
                    protocol,
                    listen: &s.listen,
                    server_name: s.server_name.as_deref(),
                    certs: &s.certs,
                })
            })
            .collect();
        Discovery::new(&self.dns.listen, &sections)
    }
}
