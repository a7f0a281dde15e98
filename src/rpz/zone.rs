//! The zone of one list as AXFR messages, encoded once and sent to every
//! secondary that asks for that list.
//!
//! The records are exactly those of `ward list export --format rpz`
//! ([`RpzZone::for_each_record`]), so the text export and the feed cannot
//! differ. Each message holds the question (the zone, AXFR, IN) and as
//! many records as fit in [`MESSAGE_BODY_LIMIT`], with every owner name
//! compressed against the names already in that message (a listed name's
//! `*.` record is its name plus a pointer). The first message starts with
//! the SOA and the last ends with it (RFC 5936 §2.2). The ID and the RD
//! bit are the request's, set when sent, and a TSIG record may be added:
//! [`MESSAGE_BODY_LIMIT`] leaves room for one within 16 KiB.

use std::collections::HashMap;

use crate::dns::wire::{CLASS_IN, HEADER_LEN, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_NS, TYPE_SOA};
use crate::dns::wire::{TYPE_TXT, flags};
use crate::list::ListArtifact;
use crate::list::export::{
    ExportError, ExportStats, Owner, Rdata, Record, RpzOptions, RpzZone, SOA_MNAME, SOA_RNAME,
    SOA_TIMERS,
};

/// Most bytes of one AXFR message, TSIG included.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Most bytes of a message before its TSIG record: the TSIG of a key
/// name of 255 bytes with a BADTIME's other data still fits.
pub const MESSAGE_BODY_LIMIT: usize = MAX_MESSAGE - 384;
/// AXFR (RFC 5936) and IXFR (RFC 1995) query types.
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_IXFR: u16 = 251;

/// The zone of one list, ready to send.
#[derive(Debug)]
pub struct Zone {
    /// The store's generation of the list this zone was built from.
    pub generation: u64,
    pub serial: u32,
    /// The zone's name on the wire, lower case.
    pub name: Vec<u8>,
    /// The SOA record, its owner a pointer to the question's name.
    pub soa: Vec<u8>,
    /// The transfer: complete messages with ID 0.
    pub messages: Vec<Vec<u8>>,
    pub stats: ExportStats,
    /// Records in the transfer (the SOA twice).
    pub records: u64,
}

impl Zone {
    /// Encodes `list`'s zone.
    pub fn build(
        list: &ListArtifact,
        generation: u64,
        opts: &RpzOptions,
    ) -> Result<Self, ExportError> {
        let zone = RpzZone::new(list, opts)?;
        let name = name_wire(&opts.zone);
        let mut soa = Vec::new();
        encode_record(&mut soa, &[0xC0, HEADER_LEN as u8], zone.soa(), opts.ttl);
        let mut builder = Builder::new(&name, opts.ttl);
        let stats = zone.for_each_record(|record| {
            builder.push(record);
            Ok(())
        })?;
        builder.push(zone.soa());
        let records = builder.records;
        let messages = builder.finish();
        Ok(Self {
            generation,
            serial: zone.serial(),
            name,
            soa,
            messages,
            stats,
            records,
        })
    }

    /// Bytes held by the encoded transfer.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(Vec::capacity).sum()
    }
}

/// `name.` in wire form, lower case (empty labels are skipped, so the
/// root is a single zero byte).
pub fn name_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        // Names come from a validated config or a verified list: labels
        // are at most 63 bytes.
        out.push(label.len().min(63) as u8);
        out.extend(label.bytes().take(63).map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    out
}

/// Fills messages with records, compressing owner names.
pub(super) struct Builder<'z> {
    zone: &'z [u8],
    ttl: u32,
    current: Vec<u8>,
    count: u16,
    /// Owner-name suffixes (uncompressed wire) in `current`, by offset.
    offsets: HashMap<Vec<u8>, u16>,
    done: Vec<Vec<u8>>,
    records: u64,
    /// Scratch: the owner name in uncompressed wire form.
    owner: Vec<u8>,
}

impl<'z> Builder<'z> {
    pub(super) fn new(zone: &'z [u8], ttl: u32) -> Self {
        let mut b = Self {
            zone,
            ttl,
            current: Vec::new(),
            count: 0,
            offsets: HashMap::new(),
            done: Vec::new(),
            records: 0,
            owner: Vec::new(),
        };
        b.start();
        b
    }

    /// A new message: header and question; the zone's name in the
    /// question is the first compression target.
    fn start(&mut self) {
        self.current = Vec::with_capacity(MESSAGE_BODY_LIMIT);
        self.current.extend_from_slice(&[0, 0]);
        self.current
            .extend_from_slice(&(flags::QR | flags::AA).to_be_bytes());
        self.current.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        self.current.extend_from_slice(self.zone);
        self.current.extend_from_slice(&TYPE_AXFR.to_be_bytes());
        self.current.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.count = 0;
        self.offsets.clear();
        self.remember(self.zone.to_vec(), HEADER_LEN);
    }

    /// Records every suffix of `name` (uncompressed wire, at `at`) not yet
    /// known.
    fn remember(&mut self, name: Vec<u8>, at: usize) {
        let mut pos = 0;
        while name.get(pos).is_some_and(|&l| l != 0) {
            let offset = at + pos;
            if offset >= 0x3FFF {
                return;
            }
            let suffix = name[pos..].to_vec();
            if self.offsets.contains_key(&suffix) {
                return;
            }
            self.offsets.insert(suffix, offset as u16);
            pos += 1 + usize::from(name[pos]);
        }
    }

    pub(super) fn push(&mut self, record: Record<'_>) {
        self.owner.clear();
        if let Owner::Name { name, wildcard } = record.owner {
            if wildcard {
                self.owner.extend_from_slice(b"\x01*");
            }
            let wire = name_wire(name);
            self.owner.extend_from_slice(&wire[..wire.len() - 1]);
        }
        self.owner.extend_from_slice(self.zone);
        // An upper bound of the record's size: owner uncompressed, fixed
        // fields, the largest RDATA (the list's TXT, at most a few hundred
        // bytes; the SOA's 60).
        let rdata_bound = match record.rdata {
            Rdata::Txt(strings) => strings.iter().map(|s| s.len() + 2).sum::<usize>() + 8,
            _ => 64,
        };
        if self.count > 0
            && self.current.len() + self.owner.len() + 10 + rdata_bound > MESSAGE_BODY_LIMIT
        {
            self.flush();
            self.start();
        }
        // The owner: the labels before its longest known suffix, then a
        // pointer to that suffix.
        let start = self.current.len();
        let owner = std::mem::take(&mut self.owner);
        let mut pos = 0;
        let mut pointer = None;
        while owner.get(pos).is_some_and(|&l| l != 0) {
            if let Some(&offset) = self.offsets.get(&owner[pos..]) {
                pointer = Some(offset);
                break;
            }
            pos += 1 + usize::from(owner[pos]);
        }
        let mut owner_bytes = owner[..pos].to_vec();
        match pointer {
            Some(offset) => owner_bytes.extend_from_slice(&(0xC000 | offset).to_be_bytes()),
            None => owner_bytes.push(0),
        }
        self.remember(owner[..].to_vec(), start);
        self.owner = owner;
        encode_record(&mut self.current, &owner_bytes, record, self.ttl);
        self.count += 1;
        self.records += 1;
    }

    fn flush(&mut self) {
        let count = self.count.to_be_bytes();
        self.current[6..8].copy_from_slice(&count);
        self.current.shrink_to_fit();
        self.done.push(std::mem::take(&mut self.current));
    }

    pub(super) fn finish(mut self) -> Vec<Vec<u8>> {
        self.flush();
        self.done
    }
}

/// Appends one record, its owner already encoded.
fn encode_record(out: &mut Vec<u8>, owner: &[u8], record: Record<'_>, ttl: u32) {
    out.extend_from_slice(owner);
    let rtype = match record.rdata {
        Rdata::Soa { .. } => TYPE_SOA,
        Rdata::Ns => TYPE_NS,
        Rdata::Txt(_) => TYPE_TXT,
        Rdata::CnameRoot | Rdata::CnameWildcard => TYPE_CNAME,
        Rdata::A(_) => TYPE_A,
        Rdata::Aaaa(_) => TYPE_AAAA,
    };
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match record.rdata {
        Rdata::Soa { serial, minimum } => {
            out.extend_from_slice(&name_wire(SOA_MNAME));
            out.extend_from_slice(&name_wire(SOA_RNAME));
            out.extend_from_slice(&serial.to_be_bytes());
            for t in SOA_TIMERS {
                out.extend_from_slice(&t.to_be_bytes());
            }
            out.extend_from_slice(&minimum.to_be_bytes());
        }
        Rdata::Ns => out.extend_from_slice(&name_wire(SOA_MNAME)),
        Rdata::Txt(strings) => {
            for s in strings {
                // Character strings hold at most 255 bytes: a longer one
                // is carried as several.
                for chunk in s.as_bytes().chunks(255) {
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
        }
        Rdata::CnameRoot => out.push(0),
        Rdata::CnameWildcard => out.extend_from_slice(b"\x01*\x00"),
        Rdata::A(a) => out.extend_from_slice(&a.octets()),
        Rdata::Aaaa(a) => out.extend_from_slice(&a.octets()),
    }
    // At most a few hundred bytes (the TXT is the largest).
    let len = (out.len() - len_at - 2) as u16;
    out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use ed25519_dalek::SigningKey;
    use hickory_proto::op::Message;

    use super::*;
    use crate::list::export::{Action, write_rpz};
    use crate::list::{BuildOptions, TrustedKeys, Verified, build, verify};

    fn list(source: &str) -> Verified<ListArtifact> {
        let key = SigningKey::from_bytes(&[5; 32]);
        let now = jiff::Timestamp::now();
        let opts = BuildOptions {
            list_id: "t".into(),
            serial: 42,
            issued_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(1),
            confidential: ["csam".to_string()].into_iter().collect(),
            min_age: Default::default(),
        };
        let (bytes, _) = build::build_from_str(source, &opts, &key).unwrap();
        let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
        verify(crate::list::Bytes::Owned(bytes), &trust).unwrap()
    }

    fn opts() -> RpzOptions {
        RpzOptions {
            zone: "child.rpz.".into(),
            ttl: 300,
            default_action: Action::Nxdomain,
            actions: BTreeMap::new(),
            sinkhole_ipv4: vec![],
            sinkhole_ipv6: vec![],
        }
    }

    /// The transfer is the text export's zone, record for record, in
    /// messages of at most 16 KiB with the SOA first and last; and the
    /// measure of its memory.
    #[test]
    fn the_transfer_is_the_exported_zone_in_small_compressed_messages() {
        let mut source = String::new();
        for i in 0..20_000 {
            let exact = if i % 7 == 0 { "=" } else { "" };
            writeln!(source, "{exact}name-{i}.example{}.com adult", i % 50).unwrap();
        }
        source.push_str("secret.example csam\n");
        let l = list(&source);
        let zone = Zone::build(&l, 1, &opts()).unwrap();
        assert_eq!(zone.serial, 42);
        assert!(zone.messages.len() > 10, "{}", zone.messages.len());
        let mut records = Vec::new();
        for m in &zone.messages {
            assert!(m.len() <= MESSAGE_BODY_LIMIT, "{}", m.len());
            let decoded = Message::from_vec(m).unwrap();
            assert_eq!(decoded.queries.len(), 1);
            for r in &decoded.answers {
                records.push(r.to_string());
            }
        }
        assert!(records[0].contains("SOA"), "{}", records[0]);
        assert!(records.last().unwrap().contains("SOA"));
        assert_eq!(records.len() as u64, zone.records);
        // The text export, as lines "owner TTL IN TYPE RDATA".
        let mut text = Vec::new();
        write_rpz(&l, &opts(), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with([';', '$', '@']) && !l.starts_with("list.ward "))
            .collect();
        // SOA, NS, TXT, the names, SOA.
        assert_eq!(records.len(), body.len() + 4);
        for (line, record) in body.iter().zip(&records[3..]) {
            let (owner, rest) = line.split_once(' ').unwrap();
            assert!(
                record.starts_with(&format!("{owner}.child.rpz. 300 IN ")),
                "{record} vs {line}"
            );
            assert!(
                record.ends_with(rest.trim_start_matches("CNAME ")),
                "{record} vs {line}"
            );
        }
        assert!(!records.iter().any(|r| r.contains("secret")));
        let per_name = zone.bytes() / 20_000;
        eprintln!(
            "{} names: {} messages, {} bytes ({per_name} per name)",
            20_000,
            zone.messages.len(),
            zone.bytes()
        );
        assert!(per_name < 64, "{per_name} bytes per name");
    }
}
