//! Which profile a request gets: by the client id its encrypted
//! transport named, else by the listener it arrived on, else by the most
//! specific client network that contains its source address.
//!
//! The networks are flattened, when the profiles are loaded, into sorted
//! disjoint address ranges, each with the profile of the most specific
//! network covering it; a lookup is one binary search, however many
//! networks and however they nest. IPv4 ranges are held as `u32` with an
//! index by /16 and, inside a /16 where more than a few ranges start, by
//! /24, so the search only covers the ranges that start in the client's
//! /24 (or sparse /16): a handful, however many networks there are,
//! unless many networks narrower than a /24 share one (then log2 of
//! those).

use std::net::IpAddr;

use ipnet::IpNet;

use super::ClientId;

/// A profile, by its place in the configuration (`[[profile]]` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId(pub u16);

/// A listen address, by its place in `[dns] listen`: what a query carries
/// from the socket it arrived on to the selection (cheaper to carry and
/// to look up than the address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u16);

/// How a query arrived, beyond its source address: what may select a
/// profile before the client's network does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Via {
    /// The `[dns] listen` address (by place) of a UDP or TCP query; `None`
    /// for DoT and DoH, whose listeners no profile names.
    pub listener: Option<ListenerId>,
    /// The client id of a DoT or DoH query (TLS server name or DoH path).
    pub client_id: Option<ClientId>,
}

impl From<ListenerId> for Via {
    fn from(listener: ListenerId) -> Self {
        Self {
            listener: Some(listener),
            client_id: None,
        }
    }
}

impl Via {
    /// A DoT or DoH query, with the client id its connection or path
    /// named, if any.
    pub fn encrypted(client_id: Option<ClientId>) -> Self {
        Self {
            listener: None,
            client_id,
        }
    }
}

/// Two profiles claim the same network, or the same listener: neither is
/// more specific, so the configuration is ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Overlap {
    #[error("network {net} is in two profiles ({} and {})", .first.0, .second.0)]
    Network {
        net: IpNet,
        first: ProfileId,
        second: ProfileId,
    },
    #[error("listen address {} is in two profiles ({} and {})", .listener.0, .first.0, .second.0)]
    Listener {
        listener: ListenerId,
        first: ProfileId,
        second: ProfileId,
    },
    #[error("client id {id} is in two profiles ({} and {})", .first.0, .second.0)]
    ClientId {
        id: ClientId,
        first: ProfileId,
        second: ProfileId,
    },
}

/// The profile lookup of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    v4: V4Ranges,
    v6: Ranges,
    /// By [`ListenerId`]: the profile its queries get, if any. Empty when
    /// no profile has a `listen`.
    listeners: Vec<Option<ProfileId>>,
    /// Sorted by id; empty when no profile has `client_ids`.
    client_ids: Vec<(ClientId, ProfileId)>,
}

impl Selector {
    /// Builds the lookup from each profile's client networks and
    /// listeners. Every ambiguity is reported, not just the first.
    pub fn new(
        networks: impl IntoIterator<Item = (IpNet, ProfileId)>,
        listeners: impl IntoIterator<Item = (ListenerId, ProfileId)>,
    ) -> Result<Self, Vec<Overlap>> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, id) in networks {
            let net = net.trunc();
            let (first, last) = span(net);
            let entry = Net {
                first,
                last,
                len: net.prefix_len(),
                id,
                net,
            };
            match net {
                IpNet::V4(_) => v4.push(entry),
                IpNet::V6(_) => v6.push(entry),
            }
        }
        let mut problems = Vec::new();
        let v4 = V4Ranges::new(Ranges::flatten(v4, &mut problems));
        let v6 = Ranges::flatten(v6, &mut problems);
        let mut by_listener: Vec<Option<ProfileId>> = Vec::new();
        for (listener, id) in listeners {
            let i = usize::from(listener.0);
            if by_listener.len() <= i {
                by_listener.resize(i + 1, None);
            }
            match by_listener[i] {
                None => by_listener[i] = Some(id),
                Some(first) if first != id => problems.push(Overlap::Listener {
                    listener,
                    first,
                    second: id,
                }),
                Some(_) => {}
            }
        }
        let listeners = by_listener;
        if problems.is_empty() {
            Ok(Self {
                v4,
                v6,
                listeners,
                client_ids: Vec::new(),
            })
        } else {
            Err(problems)
        }
    }

    /// Adds the profiles' client ids. An id in two profiles is reported
    /// (every one, not just the first).
    pub fn with_client_ids(
        mut self,
        ids: impl IntoIterator<Item = (ClientId, ProfileId)>,
    ) -> Result<Self, Vec<Overlap>> {
        let mut all: Vec<(ClientId, ProfileId)> = ids.into_iter().collect();
        all.sort();
        all.dedup();
        let problems: Vec<Overlap> = all
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| Overlap::ClientId {
                id: w[0].0,
                first: w[0].1,
                second: w[1].1,
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        self.client_ids = all;
        Ok(self)
    }

    /// A client id of profile `id` (the first in sort order), if it has
    /// any: what a designated encrypted transport names to select it.
    pub fn client_id_of(&self, id: ProfileId) -> Option<ClientId> {
        self.client_ids
            .iter()
            .find(|(_, p)| *p == id)
            .map(|(c, _)| *c)
    }

    /// No profile at all: every client gets the national list alone.
    pub fn is_empty(&self) -> bool {
        self.v4.ranges.is_empty()
            && self.v6.starts.is_empty()
            && self.listeners.iter().all(Option::is_none)
            && self.client_ids.is_empty()
    }

    /// The profile of a request from `client` that arrived `via`: the
    /// client id's profile if the id is configured, else as
    /// [`Selector::select`]. An id no profile has is not an error: the
    /// request is selected as if it had none, so that no answer tells
    /// which ids exist.
    #[inline]
    pub fn select_via(&self, client: IpAddr, via: Via) -> Option<ProfileId> {
        if let Some(id) = via.client_id
            && let Ok(i) = self.client_ids.binary_search_by(|(c, _)| c.cmp(&id))
        {
            return Some(self.client_ids[i].1);
        }
        self.select(client, via.listener)
    }

    /// The profile of a request from `client` that arrived on
    /// `listener`: the listener's profile if it has one, else the most
    /// specific network's; `None` for the national list alone.
    #[inline]
    pub fn select(&self, client: IpAddr, listener: Option<ListenerId>) -> Option<ProfileId> {
        if let Some(l) = listener
            && let Some(&Some(id)) = self.listeners.get(usize::from(l.0))
        {
            return Some(id);
        }
        match client.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        }
    }
}

/// A client network of a profile, as a span of addresses.
#[derive(Debug, Clone, Copy)]
struct Net {
    first: u128,
    last: u128,
    len: u8,
    id: ProfileId,
    net: IpNet,
}

fn span(net: IpNet) -> (u128, u128) {
    match net {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// Sorted, disjoint ranges of one address family.
#[derive(Debug, Clone, Default)]
struct Ranges {
    starts: Vec<u128>,
    /// Inclusive ends.
    ends: Vec<u128>,
    ids: Vec<ProfileId>,
}

impl Ranges {
    /// Networks either nest or are disjoint, so sorted by start and then
    /// from the widest, each one opens inside the one before it that is
    /// still open. Walking them with a stack of open networks cuts the
    /// line into ranges that each belong to the innermost one.
    fn flatten(mut nets: Vec<Net>, problems: &mut Vec<Overlap>) -> Self {
        nets.sort_by_key(|n| (n.first, n.len, n.id));
        let mut out = Self::default();
        let mut open: Vec<Net> = Vec::new();
        // The first address not yet given to a range.
        let mut cursor: Option<u128> = None;
        for net in nets {
            if let Some(prev) = open.last()
                && prev.first == net.first
                && prev.len == net.len
            {
                if prev.id != net.id {
                    problems.push(Overlap::Network {
                        net: net.net,
                        first: prev.id,
                        second: net.id,
                    });
                }
                continue;
            }
            // Close every open network that ends before this one starts.
            while let Some(top) = open.last().copied()
                && top.last < net.first
            {
                out.push(&mut cursor, top.last, top.id);
                open.pop();
            }
            if let Some(top) = open.last().copied()
                && net.first > 0
            {
                out.push(&mut cursor, net.first - 1, top.id);
            }
            cursor = Some(net.first);
            open.push(net);
        }
        while let Some(top) = open.pop() {
            out.push(&mut cursor, top.last, top.id);
        }
        out
    }

    /// Gives the addresses from the cursor to `last` to `id`, and moves the
    /// cursor past them (nothing when the cursor is already past `last`,
    /// or is at the end of the address space).
    fn push(&mut self, cursor: &mut Option<u128>, last: u128, id: ProfileId) {
        let Some(first) = *cursor else {
            return;
        };
        if first > last {
            return;
        }
        self.starts.push(first);
        self.ends.push(last);
        self.ids.push(id);
        *cursor = last.checked_add(1);
    }

    #[inline]
    fn find(&self, addr: u128) -> Option<ProfileId> {
        let i = self.starts.partition_point(|&s| s <= addr).checked_sub(1)?;
        (addr <= self.ends[i]).then(|| self.ids[i])
    }
}

/// A /16 bucket with more ranges than this gets an index of its own by
/// /24.
const DENSE: usize = 8;
/// No index by /24 for this bucket.
const NO_FINE: u32 = u32::MAX;

/// The IPv4 ranges as `u32`, indexed in two levels: by /16 bucket, how
/// many ranges start before it; and inside a bucket where more than
/// [`DENSE`] ranges start, the same by /24. A lookup searches only the
/// ranges that start in its /24 (or in its /16, for a sparse one).
/// Empty (no index at all) without IPv4 networks.
///
/// Memory: 512 KiB for the two /16 tables, and 1028 bytes per dense
/// bucket: at most 129 bytes per range.
#[derive(Debug, Clone, Default)]
struct V4Ranges {
    ranges: Vec<V4Range>,
    /// `coarse[b]`: how many ranges start before /16 bucket `b`; 2^16 + 1
    /// entries, the last being the number of ranges.
    coarse: Box<[u32]>,
    /// `fine_at[b]`: where bucket `b`'s /24 counts begin in `fine`, or
    /// [`NO_FINE`].
    fine_at: Box<[u32]>,
    /// Per dense bucket, 257 counts: how many ranges start before each of
    /// its 256 /24s, then before the next bucket.
    fine: Vec<u32>,
}

/// One IPv4 range and its profile.
#[derive(Debug, Clone, Copy)]
struct V4Range {
    start: u32,
    /// Inclusive.
    end: u32,
    id: ProfileId,
}

impl V4Ranges {
    fn new(r: Ranges) -> Self {
        if r.starts.is_empty() {
            return Self::default();
        }
        // IPv4 spans fit in u32: they were made from IPv4 networks.
        let narrow = |x: u128| u32::try_from(x).unwrap_or(u32::MAX);
        let ranges: Vec<V4Range> = (r.starts.iter().zip(&r.ends).zip(&r.ids))
            .map(|((&start, &end), &id)| V4Range {
                start: narrow(start),
                end: narrow(end),
                id,
            })
            .collect();
        // How many ranges start before `addr` (the ranges are sorted).
        let before = |addr: u64| count(ranges.partition_point(|r| u64::from(r.start) < addr));
        let coarse: Box<[u32]> = (0..=1u64 << 16).map(|b| before(b << 16)).collect();
        let mut fine_at = vec![NO_FINE; 1 << 16];
        let mut fine = Vec::new();
        for (b, pair) in coarse.windows(2).enumerate() {
            if (pair[1] - pair[0]) as usize > DENSE {
                fine_at[b] = count(fine.len());
                let base = (b as u64) << 16;
                fine.extend((0..=256u64).map(|c| before(base + (c << 8))));
            }
        }
        Self {
            ranges,
            coarse,
            fine_at: fine_at.into(),
            fine,
        }
    }

    /// The range holding `addr` is the last one that starts at or before
    /// it: among those that start in its /24 (dense bucket) or /16, else
    /// the last one that starts before that (a wider network).
    #[inline]
    fn find(&self, addr: u32) -> Option<ProfileId> {
        let b = (addr >> 16) as usize;
        let at = *self.fine_at.get(b)?;
        let (lo, hi) = if at == NO_FINE {
            (*self.coarse.get(b)?, *self.coarse.get(b + 1)?)
        } else {
            let c = at as usize + ((addr >> 8) & 0xFF) as usize;
            (*self.fine.get(c)?, *self.fine.get(c + 1)?)
        };
        let (lo, hi) = (lo as usize, hi as usize);
        let inside = self.ranges.get(lo..hi)?;
        let i = (lo + inside.partition_point(|r| r.start <= addr)).checked_sub(1)?;
        let r = self.ranges.get(i)?;
        (addr <= r.end).then_some(r.id)
    }
}

/// A range count as an index entry. Each range comes from a configured
/// network, so there are far fewer than 2^32 (their three vectors alone
/// would take 40 GiB); the saturation is never reached.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
