//! Incremental transfers (RFC 1995): what changed from one list to the
//! next, kept for the last few lists, and the IXFR answer built from it.
//!
//! A [`Step`] is computed when a new list is put in force, from the list
//! the previous zone was built from and the new one, walked side by side
//! once ([`RpzZone::for_each_change`]); only the records of changed names
//! are kept. Each step also carries the list's TXT records, which change
//! with every list (serial and sha256). The SOA records that frame each
//! step are made when an answer is sent.
//!
//! A step that would be larger than half the new zone is not kept: the
//! whole zone is then the cheaper answer, and the history restarts.

use std::collections::VecDeque;
use std::sync::Arc;

use super::zone::{Builder, Zone};
use crate::list::ListArtifact;
use crate::list::export::{ExportError, Owner, Rdata, Record, RpzOptions, RpzZone, info_record};

/// The changes from the zone of serial `from` to that of serial `to`.
#[derive(Debug)]
pub struct Step {
    pub from: u32,
    pub to: u32,
    old_txt: Vec<String>,
    new_txt: Vec<String>,
    deleted: Vec<Changed>,
    added: Vec<Changed>,
}

/// One record of a listed name, owned.
#[derive(Debug)]
struct Changed {
    name: String,
    wildcard: bool,
    rdata: Rdata<'static>,
}

impl Changed {
    fn record(&self) -> Record<'_> {
        Record {
            owner: Owner::Name {
                name: &self.name,
                wildcard: self.wildcard,
            },
            rdata: self.rdata,
        }
    }
}

impl Step {
    /// The step from `old`'s zone to `new`'s; `Ok(None)` when it would
    /// hold more than `limit` records.
    pub fn compute(
        old: &ListArtifact,
        new: &ListArtifact,
        opts: &RpzOptions,
        limit: usize,
    ) -> Result<Option<Self>, ExportError> {
        let before = RpzZone::new(old, opts)?;
        let after = RpzZone::new(new, opts)?;
        let (mut deleted, mut added) = (Vec::new(), Vec::new());
        let mut over = false;
        after.for_each_change(&before, |is_added, record| {
            if over {
                return;
            }
            if deleted.len() + added.len() >= limit {
                over = true;
                return;
            }
            let Owner::Name { name, wildcard } = record.owner else {
                return;
            };
            // Only CNAME, A and AAAA records belong to listed names; the
            // apex records (SOA, NS, TXT) are never among the changes.
            let rdata = match record.rdata {
                Rdata::CnameRoot => Rdata::CnameRoot,
                Rdata::CnameWildcard => Rdata::CnameWildcard,
                Rdata::A(a) => Rdata::A(a),
                Rdata::Aaaa(a) => Rdata::Aaaa(a),
                Rdata::Soa { .. } | Rdata::Ns | Rdata::Txt(_) => return,
            };
            let changed = Changed {
                name: name.to_owned(),
                wildcard,
                rdata,
            };
            if is_added {
                added.push(changed);
            } else {
                deleted.push(changed);
            }
        })?;
        if over {
            return Ok(None);
        }
        Ok(Some(Self {
            from: before.serial(),
            to: after.serial(),
            old_txt: before.txt().to_vec(),
            new_txt: after.txt().to_vec(),
            deleted,
            added,
        }))
    }

    /// Records deleted and added.
    pub fn len(&self) -> usize {
        self.deleted.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The steps that lead from serial `from` to `to`, oldest first; `None`
/// when the history does not reach back to `from`.
pub fn chain(history: &VecDeque<Arc<Step>>, from: u32, to: u32) -> Option<Vec<Arc<Step>>> {
    let start = history.iter().position(|s| s.from == from)?;
    let steps: Vec<Arc<Step>> = history.iter().skip(start).cloned().collect();
    let linked = steps.windows(2).all(|w| w[0].to == w[1].from);
    (linked && steps.last()?.to == to).then_some(steps)
}

/// The IXFR answer for `steps` as messages with ID 0, like the zone's
/// own: the current SOA, then per step the old SOA, the deletions, the
/// new SOA and the additions, and the current SOA again (RFC 1995 §4).
pub fn messages(zone: &Zone, steps: &[Arc<Step>], ttl: u32) -> Vec<Vec<u8>> {
    let soa = |serial| Record {
        owner: Owner::Apex,
        rdata: Rdata::Soa {
            serial,
            minimum: ttl,
        },
    };
    let mut b = Builder::new(&zone.name, ttl);
    b.push(soa(zone.serial));
    for step in steps {
        b.push(soa(step.from));
        b.push(info_record(&step.old_txt));
        for c in &step.deleted {
            b.push(c.record());
        }
        b.push(soa(step.to));
        b.push(info_record(&step.new_txt));
        for c in &step.added {
            b.push(c.record());
        }
    }
    b.push(soa(zone.serial));
    b.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write as _;

    use ed25519_dalek::SigningKey;
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;

    use super::*;
    use crate::list::export::Action;
    use crate::list::{BuildOptions, TrustedKeys, Verified, build, verify};

    fn list(serial: u64, source: &str) -> Verified<ListArtifact> {
        let key = SigningKey::from_bytes(&[5; 32]);
        let now = jiff::Timestamp::now();
        let opts = BuildOptions {
            list_id: "t".into(),
            serial,
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
            actions: BTreeMap::from([("gambling".to_owned(), Action::Nodata)]),
            sinkhole_ipv4: vec![],
            sinkhole_ipv6: vec![],
        }
    }

    /// The records of some messages, as text, in order.
    fn decode(messages: &[Vec<u8>]) -> Vec<String> {
        messages
            .iter()
            .flat_map(|m| Message::from_vec(m).unwrap().answers)
            .map(|r| match &r.data {
                RData::SOA(soa) => format!("SOA {}", soa.serial),
                other => format!("{} {} {other}", r.name, r.record_type()),
            })
            .collect()
    }

    /// A zone as the set of its records, SOA aside.
    fn set(zone: &Zone) -> BTreeSet<String> {
        decode(&zone.messages)
            .into_iter()
            .filter(|r| !r.starts_with("SOA"))
            .collect()
    }

    /// Applies an IXFR (RFC 1995 §4) to `zone`'s records.
    fn apply(mut records: BTreeSet<String>, ixfr: &[String]) -> BTreeSet<String> {
        let body = &ixfr[1..ixfr.len() - 1];
        let mut deleting = false;
        for r in body {
            if r.starts_with("SOA") {
                deleting = !deleting;
                continue;
            }
            if deleting {
                assert!(records.remove(r), "deletes what is not there: {r}");
            } else {
                assert!(records.insert(r.clone()), "adds what is there: {r}");
            }
        }
        records
    }

    #[test]
    fn the_changes_turn_each_zone_into_the_next() {
        let mut base = String::new();
        for i in 0..3000 {
            writeln!(base, "n{i}.example{} adult", i % 30).unwrap();
        }
        base.push_str(
            "=exact.example adult\nmove.example adult\ng.example gambling\nsecret.example csam\n",
        );
        // Added, removed, a category whose action differs, an exact rule
        // that gains a subtree rule, and a confidential change.
        let second = format!("{base}new.example adult\nexact.example gambling\n")
            .replace("n5.example5 adult\n", "")
            .replace("move.example adult", "move.example gambling")
            .replace("secret.example csam\n", "secret2.example csam\n");
        let third = second.replace("new.example adult\n", "") + "=third.example adult\n";
        let lists = [list(1, &base), list(2, &second), list(3, &third)];
        let zones: Vec<Zone> = lists
            .iter()
            .map(|l| Zone::build(l, 1, &opts()).unwrap())
            .collect();
        let mut history = VecDeque::new();
        for pair in lists.windows(2) {
            let step = Step::compute(&pair[0], &pair[1], &opts(), 1000)
                .unwrap()
                .unwrap();
            history.push_back(Arc::new(step));
        }
        // move.example 2 + 2, n5 2, new.example 2, exact.example's `*.` 1.
        assert_eq!(history[0].len(), 9, "{:?}", history[0]);

        // From each serial to the last: the old zone becomes the new one.
        for (from, zone) in [(1, &zones[0]), (2, &zones[1])] {
            let steps = chain(&history, from, 3).unwrap();
            let ixfr = decode(&messages(&zones[2], &steps, 300));
            assert_eq!(ixfr.first().unwrap(), "SOA 3");
            assert_eq!(ixfr.last().unwrap(), "SOA 3");
            assert_eq!(apply(set(zone), &ixfr), set(&zones[2]), "from {from}");
            assert!(!ixfr.iter().any(|r| r.contains("secret")));
        }
        assert!(chain(&history, 7, 3).is_none());
        assert!(
            chain(&history, 1, 2).is_none(),
            "must end at the zone served"
        );

        // More changes than the limit: no step at all.
        assert!(
            Step::compute(&lists[0], &lists[1], &opts(), 3)
                .unwrap()
                .is_none()
        );
    }
}
