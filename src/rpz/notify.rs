//! NOTIFY (RFC 1996): when a new zone is served, each `notify` address is
//! told over UDP, so that secondaries ask for it within seconds instead
//! of at their next SOA refresh (3600 s).
//!
//! One message per secondary: the zone's question (SOA) and the new SOA
//! in the answer section, signed with the first TSIG key when the feed
//! has keys. It is sent again after 1, 2, 4 and 8 s until the secondary
//! answers; a secondary that never answers still polls the SOA. The
//! source address is the feed's own `listen` address of the same family
//! when it is a specific one, as secondaries check that a NOTIFY comes
//! from their primary's address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::metrics::{NotifyResult, RpzMetrics};
use super::tsig::{Key, Signer};
use super::zone::Zone;
use crate::config::RpzSettings;
use crate::dns::wire::{CLASS_IN, HEADER_LEN, TYPE_SOA, flags};

/// The NOTIFY opcode.
pub const OPCODE_NOTIFY: u16 = 4;
/// Waits for an answer: one per try, doubling.
const TRIES: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// Sends NOTIFY for `zone` to every `notify` address of `settings`, each
/// on its own, until answered, out of tries, or `shutdown`.
pub async fn send_all(
    settings: RpzSettings,
    key: Option<Key>,
    zone: Arc<Zone>,
    metrics: Arc<RpzMetrics>,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for &target in &settings.notify {
        let source = source_for(&settings.listen, target);
        let (key, zone, metrics) = (key.clone(), Arc::clone(&zone), Arc::clone(&metrics));
        tasks.spawn(async move {
            let result = notify_one(target, source, key.as_ref(), &zone).await;
            metrics.notify[result as usize].inc();
        });
    }
    tokio::select! {
        () = shutdown.cancelled() => tasks.shutdown().await,
        () = async { while tasks.join_next().await.is_some() {} } => {}
    }
}

/// The feed's own address of `target`'s family when it is a specific
/// one, else the unspecified address (the kernel picks).
fn source_for(listen: &[SocketAddr], target: SocketAddr) -> SocketAddr {
    let own = listen
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| ip.is_ipv4() == target.is_ipv4() && !ip.is_unspecified());
    let ip = own.unwrap_or(if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    SocketAddr::new(ip, 0)
}

async fn notify_one(
    target: SocketAddr,
    source: SocketAddr,
    key: Option<&Key>,
    zone: &Zone,
) -> NotifyResult {
    let socket = match UdpSocket::bind(source).await {
        Ok(s) => s,
        Err(e) => {
            warn!(%target, %source, error = %e, "rpz feed: cannot open a socket for NOTIFY");
            return NotifyResult::Failed;
        }
    };
    let mut id = [0u8; 2];
    if getrandom::fill(&mut id).is_err() {
        id = (zone.serial as u16).to_be_bytes();
    }
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    let msg = message(zone, id, key, now);
    let mut buf = vec![0u8; 4096];
    for wait in TRIES {
        if let Err(e) = socket.send_to(&msg, target).await {
            warn!(%target, error = %e, "rpz feed: NOTIFY could not be sent");
            return NotifyResult::Failed;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
            let Ok(Ok((len, from))) = got else {
                break;
            };
            if from != target {
                continue;
            }
            match check_answer(&buf[..len], id) {
                None => continue,
                Some(0) => {
                    info!(%target, serial = zone.serial, "rpz feed: NOTIFY acknowledged");
                    return NotifyResult::Acknowledged;
                }
                Some(rcode) => {
                    warn!(%target, rcode, "rpz feed: the secondary refused NOTIFY (is this address its primary, with the same TSIG key?)");
                    return NotifyResult::Failed;
                }
            }
        }
        debug!(%target, "rpz feed: no answer to NOTIFY yet");
    }
    warn!(%target, serial = zone.serial, "rpz feed: NOTIFY unanswered; the secondary will find the new serial at its next SOA refresh");
    NotifyResult::Unanswered
}

/// The NOTIFY message for `zone`, signed with `key` if any.
pub fn message(zone: &Zone, id: [u8; 2], key: Option<&Key>, now: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + zone.name.len() + zone.soa.len() + 160);
    m.extend_from_slice(&id);
    m.extend_from_slice(&((OPCODE_NOTIFY << 11) | flags::AA).to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(&zone.name);
    m.extend_from_slice(&TYPE_SOA.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    // The SOA's owner is a pointer to the question's name, right after
    // the header: the same bytes fit here.
    m.extend_from_slice(&zone.soa);
    if let Some(key) = key {
        Signer::request(key, now).sign(&mut m);
    }
    m
}

/// The rcode of `msg` when it answers our NOTIFY `id`; `None` when it is
/// something else.
fn check_answer(msg: &[u8], id: [u8; 2]) -> Option<u8> {
    let head = msg.get(..HEADER_LEN)?;
    let f = u16::from_be_bytes([head[2], head[3]]);
    let is_answer =
        head[..2] == id && f & flags::QR != 0 && (f & flags::OPCODE_MASK) >> 11 == OPCODE_NOTIFY;
    is_answer.then_some((f & flags::RCODE_MASK) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_the_feeds_own_address_of_the_family() {
        let listen: Vec<SocketAddr> = vec![
            "0.0.0.0:53".parse().unwrap(),
            "[2001:db8::1]:53".parse().unwrap(),
        ];
        let v4 = source_for(&listen, "192.0.2.9:53".parse().unwrap());
        assert_eq!(v4, "0.0.0.0:0".parse().unwrap());
        let v6 = source_for(&listen, "[2001:db8::9]:53".parse().unwrap());
        assert_eq!(v6, "[2001:db8::1]:0".parse().unwrap());
        let listen: Vec<SocketAddr> = vec!["10.0.0.1:5300".parse().unwrap()];
        let v4 = source_for(&listen, "10.0.0.2:53".parse().unwrap());
        assert_eq!(v4, "10.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn only_a_notify_answer_with_our_id_counts() {
        let mut answer = vec![0xAB, 0xCD];
        answer.extend_from_slice(&(flags::QR | (OPCODE_NOTIFY << 11) | 5).to_be_bytes());
        answer.extend_from_slice(&[0; 8]);
        assert_eq!(check_answer(&answer, [0xAB, 0xCD]), Some(5));
        assert_eq!(check_answer(&answer, [0xAB, 0xCE]), None);
        assert_eq!(check_answer(&answer[..5], [0xAB, 0xCD]), None);
        answer[2] &= 0x7F;
        assert_eq!(check_answer(&answer, [0xAB, 0xCD]), None);
    }
}
