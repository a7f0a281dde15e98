//! Client ids: the label a DoT client puts first in its TLS server name
//! (`school-42.dns.example.vn`) or a DoH client at the end of its path
//! (`/dns-query/school-42`), which a `[[profile]]`'s `client_ids` match.
//!
//! A client id is one DNS label (letters, digits and hyphens, 1 to 63
//! bytes, not starting or ending with a hyphen), folded to lower case. It
//! is an operator's label for a school or a device group, never a
//! person's: it may be counted per profile, never logged per query.

use std::fmt;

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// A validated client id, held inline so that a query can carry it
/// without an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    len: u8,
    bytes: [u8; MAX_LABEL],
}

impl ClientId {
    /// `label` as a client id, or `None` if it is not one DNS label of
    /// letters, digits and hyphens.
    pub fn parse(label: &str) -> Option<Self> {
        let raw = label.as_bytes();
        if raw.is_empty()
            || raw.len() > MAX_LABEL
            || raw[0] == b'-'
            || raw[raw.len() - 1] == b'-'
            || !raw.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        let mut bytes = [0; MAX_LABEL];
        for (to, from) in bytes.iter_mut().zip(raw) {
            *to = from.to_ascii_lowercase();
        }
        // Fits: checked against MAX_LABEL (63) above.
        let len = raw.len() as u8;
        Some(Self { len, bytes })
    }

    /// The client id in a TLS server name `sni`: its first label when the
    /// rest is `server_name` (compared without case, either with or
    /// without a final dot). `None` when `sni` is the server name itself,
    /// is under another name, has more than one label above it, or the
    /// label is not a valid client id.
    pub fn from_sni(sni: &str, server_name: &str) -> Option<Self> {
        let sni = sni.strip_suffix('.').unwrap_or(sni);
        let server_name = server_name.strip_suffix('.').unwrap_or(server_name);
        let (label, rest) = sni.split_once('.')?;
        if !rest.eq_ignore_ascii_case(server_name) {
            return None;
        }
        Self::parse(label)
    }

    /// The id, lower case.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits and hyphens are ever stored (parse).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.as_str())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ClientId;

    #[test]
    fn labels_are_validated_and_folded() {
        assert_eq!(ClientId::parse("School-42").unwrap().as_str(), "school-42");
        for bad in ["", "-a", "a-", "a.b", "a_b", "ä", &"a".repeat(64)] {
            assert!(ClientId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(ClientId::parse(&"a".repeat(63)).is_some());
    }

    #[test]
    fn the_first_label_under_the_server_name() {
        let id = |sni| ClientId::from_sni(sni, "dns.example.vn").map(|c| c.to_string());
        assert_eq!(id("school-42.dns.example.vn").as_deref(), Some("school-42"));
        assert_eq!(
            id("SCHOOL-42.DNS.Example.VN.").as_deref(),
            Some("school-42")
        );
        assert_eq!(id("dns.example.vn"), None);
        assert_eq!(id("a.b.dns.example.vn"), None);
        assert_eq!(id("school-42.other.vn"), None);
        assert_eq!(id("bad_id.dns.example.vn"), None);
    }
}
