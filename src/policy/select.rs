//! Which profile a request gets: by the listener it arrived on, else by
//! the most specific client network that contains its source address.
//!
//! The networks are flattened, when the profiles are loaded, into sorted
//! disjoint address ranges, each with the profile of the most specific
//! network covering it; a lookup is one binary search, however many
//! networks and however they nest.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// A profile, by its place in the configuration (`[[profile]]` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId(pub u16);

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
    #[error("listener {addr} is in two profiles ({} and {})", .first.0, .second.0)]
    Listener {
        addr: SocketAddr,
        first: ProfileId,
        second: ProfileId,
    },
}

/// The profile lookup of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    v4: Ranges,
    v6: Ranges,
    listeners: Vec<(SocketAddr, ProfileId)>,
}

impl Selector {
    /// Builds the lookup from each profile's client networks and
    /// listeners. Every ambiguity is reported, not just the first.
    pub fn new(
        networks: impl IntoIterator<Item = (IpNet, ProfileId)>,
        listeners: impl IntoIterator<Item = (SocketAddr, ProfileId)>,
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
        let v4 = Ranges::flatten(v4, &mut problems);
        let v6 = Ranges::flatten(v6, &mut problems);
        let mut listeners: Vec<_> = listeners.into_iter().collect();
        listeners.sort_by_key(|&(addr, id)| (addr, id));
        for pair in listeners.windows(2) {
            if pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1 {
                problems.push(Overlap::Listener {
                    addr: pair[0].0,
                    first: pair[0].1,
                    second: pair[1].1,
                });
            }
        }
        listeners.dedup_by_key(|&mut (addr, _)| addr);
        if problems.is_empty() {
            Ok(Self { v4, v6, listeners })
        } else {
            Err(problems)
        }
    }

    /// No profile at all: every client gets the national list alone.
    pub fn is_empty(&self) -> bool {
        self.v4.starts.is_empty() && self.v6.starts.is_empty() && self.listeners.is_empty()
    }

    /// The profile of a request from `client` that arrived on `local`:
    /// the listener's profile if it has one, else the most specific
    /// network's; `None` for the national list alone.
    #[inline]
    pub fn select(&self, client: IpAddr, local: Option<SocketAddr>) -> Option<ProfileId> {
        if let Some(local) = local
            && !self.listeners.is_empty()
            && let Ok(i) = self.listeners.binary_search_by_key(&local, |&(a, _)| a)
        {
            return Some(self.listeners[i].1);
        }
        match client.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u128::from(u32::from(a))),
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
