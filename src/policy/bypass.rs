//! Bypass hardening: the names and records a profile answers itself so
//! that a device does not quietly leave the filter (`[profile.bypass]`).
//!
//! Each switch is one boolean, on by default in every `[[profile]]` (every
//! profile sets an `age`) and never applied to a client without a profile
//! (the ISP subscriber):
//!
//! | switch | what ward does |
//! |---|---|
//! | `canary_domain` | `use-application-dns.net` → NXDOMAIN: Firefox keeps the system resolver |
//! | `private_relay` | `mask.icloud.com`, `mask-h2.icloud.com` → NXDOMAIN at once (Apple's request to networks) |
//! | `ddr` | `_dns.resolver.arpa` (RFC 9462) → NODATA: no designated encrypted resolver but ward's own (`dns::discovery`) |
//! | `encrypted_dns` | the profile's lists' category [`ENCRYPTED_DNS_CATEGORY`] blocks whatever the age |
//! | `ech` | `ech` (SvcParamKey 5) removed from HTTPS/SVCB answers |
//!
//! The first three are names ward answers without asking upstream
//! ([`Bypass::answer`]); the national list is asked before them (its block
//! stands). `encrypted_dns` only changes how a category rates, so it is
//! applied where the profile is put together; `ech` is a rewrite of
//! answers (`dns::ech`).
//!
//! Pure: no I/O, no metrics, no configuration types.

use crate::domain::NameKey;

/// The category a list publisher puts public DoH/DoT resolver names in:
/// `[profile.bypass] encrypted_dns` blocks it whatever its age rating.
pub const ENCRYPTED_DNS_CATEGORY: &str = "encrypted-dns";

/// One switch of `[profile.bypass]`; its [`key`](Switch::key) is both the
/// config key and the `kind` label of `ward_bypass_blocked_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    CanaryDomain,
    PrivateRelay,
    Ddr,
    EncryptedDns,
    Ech,
}

impl Switch {
    /// Every switch, in the order of the docs (and of the counters).
    pub const ALL: [Self; 5] = [
        Self::CanaryDomain,
        Self::PrivateRelay,
        Self::Ddr,
        Self::EncryptedDns,
        Self::Ech,
    ];

    /// The config key, and the metric label.
    pub const fn key(self) -> &'static str {
        match self {
            Self::CanaryDomain => "canary_domain",
            Self::PrivateRelay => "private_relay",
            Self::Ddr => "ddr",
            Self::EncryptedDns => "encrypted_dns",
            Self::Ech => "ech",
        }
    }

    /// What the switch does, in one sentence (for `ward check`).
    pub const fn reason(self) -> &'static str {
        match self {
            Self::CanaryDomain => {
                "Firefox's canary domain: NXDOMAIN makes Firefox keep the network's resolver instead of its own DNS over HTTPS"
            }
            Self::PrivateRelay => {
                "iCloud Private Relay: NXDOMAIN at once, as Apple asks networks to do, so devices fall back to the network's resolver"
            }
            Self::Ddr => {
                "discovery of designated resolvers (RFC 9462): NODATA, so clients do not upgrade to an encrypted resolver that bypasses ward (ward's own DoT/DoH endpoints, when it serves them, are answered instead)"
            }
            Self::EncryptedDns => {
                "a public DoH/DoT resolver name (category encrypted-dns): blocked whatever the age"
            }
            Self::Ech => {
                "ech removed from HTTPS/SVCB answers, so browsers send a readable SNI the SNI filter can judge"
            }
        }
    }
}

/// How ward answers a name a switch covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no records of the type asked.
    NoData,
}

impl Answer {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NxDomain => "NXDOMAIN",
            Self::NoData => "NODATA",
        }
    }
}

/// A name answered by a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub switch: Switch,
    pub answer: Answer,
}

/// The names ward answers itself, as reversed-label keys (exact names
/// only: nothing under them), with the switch and the answer.
const NAMES: [(&[u8], Switch, Answer); 4] = [
    (
        b"net.use-application-dns.",
        Switch::CanaryDomain,
        Answer::NxDomain,
    ),
    (b"com.icloud.mask.", Switch::PrivateRelay, Answer::NxDomain),
    (
        b"com.icloud.mask-h2.",
        Switch::PrivateRelay,
        Answer::NxDomain,
    ),
    (b"arpa.resolver._dns.", Switch::Ddr, Answer::NoData),
];

/// A profile's `[profile.bypass]` switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bypass {
    pub canary_domain: bool,
    pub private_relay: bool,
    pub ddr: bool,
    pub encrypted_dns: bool,
    pub ech: bool,
}

impl Default for Bypass {
    /// Every switch on: what a profile gets without `[profile.bypass]`.
    fn default() -> Self {
        Self::ALL_ON
    }
}

impl Bypass {
    /// Every switch on.
    pub const ALL_ON: Self = Self {
        canary_domain: true,
        private_relay: true,
        ddr: true,
        encrypted_dns: true,
        ech: true,
    };
    /// Every switch off.
    pub const OFF: Self = Self {
        canary_domain: false,
        private_relay: false,
        ddr: false,
        encrypted_dns: false,
        ech: false,
    };

    /// Is `switch` on?
    pub const fn on(&self, switch: Switch) -> bool {
        match switch {
            Switch::CanaryDomain => self.canary_domain,
            Switch::PrivateRelay => self.private_relay,
            Switch::Ddr => self.ddr,
            Switch::EncryptedDns => self.encrypted_dns,
            Switch::Ech => self.ech,
        }
    }

    /// Turns `switch` on or off.
    pub fn set(&mut self, switch: Switch, on: bool) {
        let field = match switch {
            Switch::CanaryDomain => &mut self.canary_domain,
            Switch::PrivateRelay => &mut self.private_relay,
            Switch::Ddr => &mut self.ddr,
            Switch::EncryptedDns => &mut self.encrypted_dns,
            Switch::Ech => &mut self.ech,
        };
        *field = on;
    }

    /// How ward answers `key` itself, if a switch that is on covers it.
    #[inline]
    pub fn answer(&self, key: &NameKey) -> Option<Hit> {
        self.answer_key(key.as_bytes())
    }

    /// [`Bypass::answer`] for the bytes of a key.
    #[inline]
    pub fn answer_key(&self, key: &[u8]) -> Option<Hit> {
        // Every covered name ends in `.net`, `.com` or `.arpa`: most
        // names leave at the first byte compare.
        if !matches!(key.first(), Some(b'n' | b'c' | b'a')) {
            return None;
        }
        NAMES
            .iter()
            .find(|(name, switch, _)| *name == key && self.on(*switch))
            .map(|&(_, switch, answer)| Hit { switch, answer })
    }

    /// The categories a profile blocks whatever the age: its
    /// `block_categories`, plus [`ENCRYPTED_DNS_CATEGORY`] when
    /// `encrypted_dns` is on.
    pub fn block_categories(&self, configured: &[String]) -> Vec<String> {
        let mut all = configured.to_vec();
        if self.encrypted_dns && !all.iter().any(|c| c == ENCRYPTED_DNS_CATEGORY) {
            all.push(ENCRYPTED_DNS_CATEGORY.to_owned());
        }
        all
    }

    /// Does `encrypted_dns` (rather than `block_categories` alone) make
    /// `category` block whatever the age?
    pub fn forces_category(&self, category: &str, configured: &[String]) -> bool {
        self.encrypted_dns
            && category == ENCRYPTED_DNS_CATEGORY
            && !configured.iter().any(|c| c == category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::key_of_text;

    fn hit(b: &Bypass, name: &str) -> Option<Hit> {
        b.answer(&key_of_text(name.as_bytes()).unwrap())
    }

    #[test]
    fn names_and_answers() {
        let on = Bypass::ALL_ON;
        for (name, switch, answer) in [
            (
                "use-application-dns.net",
                Switch::CanaryDomain,
                Answer::NxDomain,
            ),
            (
                "USE-application-DNS.net.",
                Switch::CanaryDomain,
                Answer::NxDomain,
            ),
            ("mask.icloud.com", Switch::PrivateRelay, Answer::NxDomain),
            ("mask-h2.icloud.com", Switch::PrivateRelay, Answer::NxDomain),
            ("_dns.resolver.arpa", Switch::Ddr, Answer::NoData),
        ] {
            assert_eq!(hit(&on, name), Some(Hit { switch, answer }), "{name}");
            let mut off = on;
            off.set(switch, false);
            assert_eq!(hit(&off, name), None, "{name} with {switch:?} off");
            assert_eq!(hit(&Bypass::OFF, name), None);
        }
        for name in [
            "www.use-application-dns.net",
            "application-dns.net",
            "icloud.com",
            "x.mask.icloud.com",
            "mask-api.icloud.com",
            "resolver.arpa",
            "_dns.example.com",
            "example.net",
            "a.arpa",
            "com",
        ] {
            assert_eq!(hit(&on, name), None, "{name}");
        }
    }

    #[test]
    fn keys_are_the_names() {
        for (name, _, _) in NAMES {
            let text: Vec<&[u8]> = name.split(|&b| b == b'.').rev().skip(1).collect();
            let dotted = text.join(&b'.');
            assert_eq!(key_of_text(&dotted).unwrap().as_bytes(), name);
        }
        let keys: Vec<&str> = Switch::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(
            keys,
            [
                "canary_domain",
                "private_relay",
                "ddr",
                "encrypted_dns",
                "ech"
            ]
        );
        for s in Switch::ALL {
            assert!(Bypass::ALL_ON.on(s) && !Bypass::OFF.on(s));
        }
    }

    #[test]
    fn encrypted_dns_category() {
        let on = Bypass::ALL_ON;
        assert_eq!(on.block_categories(&[]), vec!["encrypted-dns".to_owned()]);
        let given = vec!["encrypted-dns".to_owned(), "games".to_owned()];
        assert_eq!(on.block_categories(&given), given);
        assert!(on.forces_category("encrypted-dns", &[]));
        assert!(!on.forces_category("encrypted-dns", &given));
        assert!(!on.forces_category("games", &[]));
        let mut off = on;
        off.set(Switch::EncryptedDns, false);
        assert!(off.block_categories(&[]).is_empty());
        assert!(!off.forces_category("encrypted-dns", &[]));
    }
}
