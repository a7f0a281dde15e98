//! The feed's listeners and what it answers.
//!
//! Per query, in this order: a message that is not a query is dropped;
//! an address outside `allow_transfer` gets REFUSED; with TSIG keys, a
//! query without a valid signature gets NOTAUTH (BADKEY, BADSIG, BADTIME
//! in the TSIG record); a question that is not the zone gets REFUSED; no
//! verified list in force gets SERVFAIL. Then: SOA, the SOA record (UDP
//! and TCP); AXFR over TCP, the zone; IXFR over TCP, the SOA alone when
//! the secondary has the serial served, the changes since its serial when
//! the history reaches back to it (`ixfr.rs`), else the whole zone (RFC
//! 1995 §4 allows it); IXFR over UDP, the SOA alone (the secondary then
//! comes over TCP). Everything after the TSIG check is signed with the
//! query's key, every message of a transfer included.
//!
//! The zone follows the store: built when a list is put in force (and at
//! start), then NOTIFY goes to every `notify` address (`notify.rs`). A
//! list whose zone cannot be built, or whose serial is below the zone
//! served, changes nothing: the last good zone stays served.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::ixfr::{self, Step};
use super::metrics::{Kind, Outcome, RpzMetrics};
use super::tsig::{self, Key, RequestTsig, Signer, TsigError};
use super::zone::{TYPE_AXFR, TYPE_IXFR, Zone, name_wire};
use crate::config::RpzSettings;
use crate::dns::answer::BlockAnswer;
use crate::dns::wire::{
    CLASS_IN, HEADER_LEN, RCODE_FORMERR, RCODE_NOTIMP, RCODE_REFUSED, RCODE_SERVFAIL, Reader,
    TYPE_SOA, WireError, flags,
};
use crate::list::ListArtifact;
use crate::list::export::RpzOptions;
use crate::store::{ListStore, Snapshot};

/// NOTAUTH (RFC 8945: the answer to a query whose TSIG does not verify).
const RCODE_NOTAUTH: u8 = 9;
/// TTL of the zone's records, as `ward list export` writes by default.
pub const ZONE_TTL: u32 = 300;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may wait for the next query.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one message of an answer may take to be written.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The bound sockets of the feed: TCP and UDP on each `listen` address.
#[derive(Debug)]
pub struct FeedSockets {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    /// `https_listen`.
    https: Vec<TcpListener>,
}

impl FeedSockets {
    /// Binds every `listen` address (before the privilege drop).
    pub async fn bind(settings: &RpzSettings) -> Result<Self, (SocketAddr, io::Error)> {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for &addr in &settings.listen {
            let listener = TcpListener::bind(addr).await.map_err(|e| (addr, e))?;
            // Port 0: the same port for UDP as the kernel gave TCP.
            let bound = listener.local_addr().map_err(|e| (addr, e))?;
            udp.push(UdpSocket::bind(bound).await.map_err(|e| (addr, e))?);
            tcp.push(listener);
        }
        let mut https = Vec::new();
        for &addr in settings.https.iter().flat_map(|h| &h.listen) {
            https.push(TcpListener::bind(addr).await.map_err(|e| (addr, e))?);
        }
        Ok(Self { tcp, udp, https })
    }

    /// The `https_listen` sockets, for `rpz::https` (the rest are the
    /// feed's own).
    pub fn take_https(&mut self) -> Vec<TcpListener> {
        std::mem::take(&mut self.https)
    }
}

/// What the feed serves, shared by its listeners.
#[derive(Debug)]
pub struct Feed {
    settings: RpzSettings,
    keys: Vec<Key>,
    opts: RpzOptions,
    store: Arc<ListStore>,
    metrics: Arc<RpzMetrics>,
    served: Mutex<Served>,
}

/// The zone served and how it got there.
#[derive(Debug, Default)]
struct Served {
    /// The store generation last looked at (0: none yet).
    generation: u64,
    /// The last good zone, and the list it was built from (kept for the
    /// next list's diff).
    zone: Option<(Arc<Zone>, Snapshot)>,
    /// The changes that led to `zone`, oldest first, at most
    /// `ixfr_depth`.
    history: VecDeque<Arc<Step>>,
}

/// What a transfer sends: the whole zone, or the IXFR of some changes.
enum Body {
    Zone(Arc<Zone>),
    Changes(Vec<Vec<u8>>),
}

impl Body {
    fn messages(&self) -> &[Vec<u8>] {
        match self {
            Self::Zone(z) => &z.messages,
            Self::Changes(m) => m,
        }
    }
}

/// An answer: one message, or a transfer to send message by message.
enum Plan {
    Drop,
    One(Vec<u8>),
    Transfer {
        body: Body,
        /// The zone's name in wire form (the question in every message).
        name_len: usize,
        serial: u32,
        signer: Option<Signer>,
        id: [u8; 2],
        rd: bool,
        qtype: u16,
    },
}

/// A query as the feed reads it.
struct Query<'a> {
    id: [u8; 2],
    flags: u16,
    /// The question's bytes (name, type, class) as received.
    question: &'a [u8],
    qname: Vec<u8>,
    qtype: u16,
    qclass: u16,
    tsig: Option<RequestTsig>,
    /// IXFR: the serial in the authority section's SOA.
    client_serial: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl Feed {
    /// The feed of `settings`; `block` gives the redirect addresses
    /// when `[rpz]` names none.
    pub fn new(
        settings: &RpzSettings,
        block: &BlockAnswer,
        store: Arc<ListStore>,
        metrics: Arc<RpzMetrics>,
    ) -> Self {
        Self {
            keys: settings.tsig.iter().map(Key::new).collect(),
            opts: RpzOptions {
                zone: settings.zone.clone(),
                ttl: ZONE_TTL,
                default_action: settings.action,
                actions: settings.category_actions.iter().cloned().collect(),
                sinkhole_ipv4: settings.sinkhole_ipv4.clone().unwrap_or(block.ipv4.clone()),
                sinkhole_ipv6: settings.sinkhole_ipv6.clone().unwrap_or(block.ipv6.clone()),
            },
            settings: settings.clone(),
            store,
            metrics,
            served: Mutex::new(Served::default()),
        }
    }

    /// Starts a task per socket, until `shutdown`.
    pub fn spawn(
        self: &Arc<Self>,
        sockets: FeedSockets,
        shutdown: &CancellationToken,
        background: &mut JoinSet<()>,
    ) {
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        for listener in sockets.tcp {
            if let Ok(addr) = listener.local_addr() {
                info!("rpz feed listening for TCP on {addr}");
            }
            background.spawn(Arc::clone(self).accept(
                listener,
                Arc::clone(&connections),
                shutdown.clone(),
            ));
        }
        for socket in sockets.udp {
            if let Ok(addr) = socket.local_addr() {
                info!("rpz feed listening for UDP on {addr}");
            }
            background.spawn(Arc::clone(self).udp(socket, shutdown.clone()));
        }
        background.spawn(Arc::clone(self).follow(shutdown.clone()));
    }

    /// Builds the zone of each list put in force, then sends NOTIFY to
    /// the configured secondaries.
    async fn follow(self: Arc<Self>, shutdown: CancellationToken) {
        let mut activated = self.store.subscribe();
        let mut notified = None;
        loop {
            if let Ok(zone) = self.zone().await
                && notified != Some(zone.serial)
            {
                notified = Some(zone.serial);
                if !self.settings.notify.is_empty() {
                    tokio::spawn(super::notify::send_all(
                        self.settings.clone(),
                        self.keys.first().cloned(),
                        Arc::clone(&zone),
                        Arc::clone(&self.metrics),
                        shutdown.clone(),
                    ));
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = activated.changed() => if changed.is_err() { return },
            }
        }
    }

    async fn accept(
        self: Arc<Self>,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        shutdown: CancellationToken,
    ) {
        let mut tasks = JoinSet::new();
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "rpz feed: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            };
            let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                debug!("rpz feed: connection cap reached; closing a new connection");
                continue;
            };
            let feed = Arc::clone(&self);
            let stop = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = feed.connection(stream, peer) => {}
                }
                drop(permit);
            });
        }
        tasks.shutdown().await;
    }

    /// Answers queries on one connection until it closes or idles.
    async fn connection(&self, mut stream: TcpStream, peer: SocketAddr) {
        let mut buf = vec![0u8; 65535];
        loop {
            let len = match tokio::time::timeout(IDLE_TIMEOUT, stream.read_u16()).await {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            };
            let msg = &mut buf[..len];
            match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(msg)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let (kind, plan, outcome) = self.answer(msg, peer.ip(), Transport::Tcp).await;
            let sent = match plan {
                Plan::Drop => return,
                Plan::One(reply) => write_framed(&mut stream, &reply).await,
                Plan::Transfer {
                    body,
                    name_len,
                    serial,
                    signer,
                    id,
                    rd,
                    qtype,
                } => {
                    let sent = transfer(&mut stream, &body, name_len, signer, id, rd, qtype).await;
                    if sent.is_ok() {
                        self.metrics.transferred(peer.ip().to_canonical(), serial);
                    }
                    sent
                }
            };
            let outcome = if sent.is_ok() {
                outcome
            } else {
                Outcome::Failed
            };
            if let Some(kind) = kind {
                self.metrics.count(kind, outcome);
            }
            if sent.is_err() {
                return;
            }
        }
    }

    async fn udp(self: Arc<Self>, socket: UdpSocket, shutdown: CancellationToken) {
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, peer) = tokio::select! {
                () = shutdown.cancelled() => return,
                got = socket.recv_from(&mut buf) => match got {
                    Ok(got) => got,
                    Err(e) => {
                        debug!(error = %e, "rpz feed: UDP receive failed");
                        continue;
                    }
                },
            };
            let (kind, plan, outcome) = self.answer(&buf[..len], peer.ip(), Transport::Udp).await;
            let Plan::One(reply) = plan else {
                continue;
            };
            let outcome = match socket.send_to(&reply, peer).await {
                Ok(_) => outcome,
                Err(_) => Outcome::Failed,
            };
            if let Some(kind) = kind {
                self.metrics.count(kind, outcome);
            }
        }
    }

    /// What to answer `msg` from `peer` with; the kind counted (none for
    /// what is not an SOA, AXFR or IXFR query) and the outcome if it is
    /// sent.
    async fn answer(
        &self,
        msg: &[u8],
        peer: IpAddr,
        transport: Transport,
    ) -> (Option<Kind>, Plan, Outcome) {
        let q = match parse(msg) {
            Ok(Some(q)) => q,
            Ok(None) => return (None, Plan::Drop, Outcome::Refused),
            Err(rcode) => {
                let reply = header_only(msg, rcode);
                return (None, reply.map_or(Plan::Drop, Plan::One), Outcome::Refused);
            }
        };
        let kind = match q.qtype {
            TYPE_SOA => Some(Kind::Soa),
            TYPE_AXFR => Some(Kind::Axfr),
            TYPE_IXFR => Some(Kind::Ixfr),
            _ => None,
        };
        let peer = peer.to_canonical();
        if !self.settings.allows(peer) {
            debug!(%peer, "rpz feed: address not in allow_transfer; REFUSED");
            return (
                kind,
                Plan::One(reply(&q, RCODE_REFUSED, &[])),
                Outcome::Refused,
            );
        }
        let now = jiff::Timestamp::now().as_second().max(0) as u64;
        let mut signer = match self.check_tsig(&q, msg, now) {
            Ok(signer) => signer,
            Err(notauth) => return (kind, Plan::One(notauth), Outcome::Notauth),
        };
        let mut one = |rcode, answer: &[u8], outcome| {
            let mut m = reply(&q, rcode, answer);
            if let Some(s) = &mut signer {
                s.sign(&mut m);
            }
            (kind, Plan::One(m), outcome)
        };
        if q.qname != name_wire(&self.settings.zone) || q.qclass != CLASS_IN || kind.is_none() {
            return one(RCODE_REFUSED, &[], Outcome::Refused);
        }
        let Ok(zone) = self.zone().await else {
            return one(RCODE_SERVFAIL, &[], Outcome::Servfail);
        };
        let (body, outcome) = match (q.qtype, transport) {
            (TYPE_SOA, _) => return one(0, &zone.soa, Outcome::Ok),
            (TYPE_AXFR, Transport::Udp) => return one(RCODE_FORMERR, &[], Outcome::Refused),
            (TYPE_IXFR, _) if q.client_serial == Some(zone.serial) => {
                return one(0, &zone.soa, Outcome::UpToDate);
            }
            (TYPE_IXFR, Transport::Udp) => return one(0, &zone.soa, Outcome::Ok),
            (TYPE_IXFR, Transport::Tcp) => match self.changes_since(&zone, q.client_serial).await {
                Some(messages) => (Body::Changes(messages), Outcome::Incremental),
                None => (Body::Zone(Arc::clone(&zone)), Outcome::Ok),
            },
            _ => (Body::Zone(Arc::clone(&zone)), Outcome::Ok),
        };
        (
            kind,
            Plan::Transfer {
                body,
                name_len: zone.name.len(),
                serial: zone.serial,
                signer,
                id: q.id,
                rd: q.flags & flags::RD != 0,
                qtype: q.qtype,
            },
            outcome,
        )
    }

    /// The IXFR messages from the secondary's `serial` to `zone`, when
    /// the history reaches back to it.
    async fn changes_since(&self, zone: &Zone, serial: Option<u32>) -> Option<Vec<Vec<u8>>> {
        let serial = serial?;
        let steps = {
            let served = self.served.lock().await;
            ixfr::chain(&served.history, serial, zone.serial)?
        };
        Some(ixfr::messages(zone, &steps, self.opts.ttl))
    }

    /// `Ok`: the signer of the answer (`None` without keys). `Err`: the
    /// NOTAUTH answer.
    fn check_tsig(&self, q: &Query<'_>, msg: &[u8], now: u64) -> Result<Option<Signer>, Vec<u8>> {
        let Some(t) = &q.tsig else {
            if self.keys.is_empty() {
                return Ok(None);
            }
            debug!("rpz feed: unsigned query; NOTAUTH");
            return Err(reply(q, RCODE_NOTAUTH, &[]));
        };
        let mut m = reply(q, RCODE_NOTAUTH, &[]);
        match tsig::verify(&self.keys, msg, t, now) {
            Ok(index) => Ok(Some(Signer::new(&self.keys[index], &t.mac, now))),
            Err((TsigError::BadTime, Some(index))) => {
                debug!("rpz feed: TSIG time out of range; NOTAUTH BADTIME");
                Signer::bad_time(&self.keys[index], t, now).sign(&mut m);
                Err(m)
            }
            Err((error, _)) => {
                debug!(error = error.as_str(), "rpz feed: bad TSIG; NOTAUTH");
                tsig::append_unsigned(&mut m, t, error);
                Err(m)
            }
        }
    }

    /// The zone to serve: the zone of the list in force, built once per
    /// list with its changes from the previous zone; the last good zone
    /// when that list's cannot be built or would go back in serial; `Err`
    /// when there is none.
    async fn zone(&self) -> Result<Arc<Zone>, ()> {
        self.served_zone().await.map(|(zone, _)| zone)
    }

    /// [`Self::zone`] with the list it was built from.
    pub(super) async fn served_zone(&self) -> Result<(Arc<Zone>, Snapshot), ()> {
        let Some(active) = self.store.load_full() else {
            return Err(());
        };
        let mut served = self.served.lock().await;
        if served.generation != active.generation {
            served.generation = active.generation;
            let previous = served
                .zone
                .as_ref()
                .map(|(z, list)| (z.serial, Arc::clone(list)));
            let opts = self.options_for(&active.list);
            let depth = self.settings.ixfr_depth;
            let list = Arc::clone(&active);
            let built = tokio::task::spawn_blocking(move || build(&list, previous, &opts, depth))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            match built {
                Ok((zone, step)) => {
                    info!(
                        serial = zone.serial,
                        rules = zone.stats.rules,
                        confidential_left_out = zone.stats.confidential,
                        too_long = zone.stats.too_long,
                        messages = zone.messages.len(),
                        bytes = zone.bytes(),
                        ixfr_records = step.as_ref().map(Step::len),
                        "rpz feed: zone built"
                    );
                    self.metrics.serial.set(i64::from(zone.serial));
                    let same_serial = served
                        .zone
                        .as_ref()
                        .is_some_and(|(z, _)| z.serial == zone.serial);
                    match step {
                        Some(step) if depth > 0 => {
                            served.history.push_back(Arc::new(step));
                            while served.history.len() > depth as usize {
                                served.history.pop_front();
                            }
                        }
                        // The same serial again (a reload): the history
                        // still leads to it.
                        _ if same_serial => {}
                        _ => served.history.clear(),
                    }
                    served.zone = Some((Arc::new(zone), active));
                }
                Err(e) => match &served.zone {
                    Some((zone, _)) => error!(
                        error = %e,
                        serving = zone.serial,
                        "ALARM: rpz feed: the list in force cannot be served as a zone; the last good zone stays served"
                    ),
                    None => error!(
                        error = %e,
                        "ALARM: rpz feed: the list in force cannot be served as a zone; answering SERVFAIL"
                    ),
                },
            }
        }
        served
            .zone
            .as_ref()
            .map(|(z, list)| (Arc::clone(z), Arc::clone(list)))
            .ok_or(())
    }

    pub(super) fn settings(&self) -> &RpzSettings {
        &self.settings
    }

    /// The zone's options for `list`: `category_actions` of categories
    /// it lacks left out (a later list may have them).
    pub(super) fn options_for(&self, list: &ListArtifact) -> RpzOptions {
        options_for(&self.opts, list)
    }

    pub(super) fn metrics(&self) -> &RpzMetrics {
        &self.metrics
    }
}

/// `opts` without the actions of categories `list` lacks.
fn options_for(opts: &RpzOptions, list: &ListArtifact) -> RpzOptions {
    let mut opts = opts.clone();
    let categories = &list.manifest().categories;
    opts.actions
        .retain(|name, _| categories.iter().any(|c| &c.name == name));
    opts
}

/// Builds `list`'s zone and, with the `previous` zone's serial and list,
/// the changes from it (`None`: no previous zone, the same serial, or
/// more changes than the whole zone is worth). `Err`: why the zone cannot
/// be served.
fn build(
    list: &Snapshot,
    previous: Option<(u32, Snapshot)>,
    opts: &RpzOptions,
    depth: u32,
) -> Result<(Zone, Option<Step>), String> {
    let zone = Zone::build(&list.list, list.generation, opts).map_err(|e| e.to_string())?;
    let Some((serial, old)) = previous else {
        return Ok((zone, None));
    };
    if zone.serial < serial {
        return Err(format!(
            "list serial {} is below the zone served ({serial}); a feed never goes back",
            zone.serial
        ));
    }
    if zone.serial == serial || depth == 0 {
        return Ok((zone, None));
    }
    // Past half the zone, the whole zone is the cheaper answer.
    let limit = usize::try_from(zone.records / 2).unwrap_or(usize::MAX);
    let step = match Step::compute(&old.list, &list.list, opts, limit) {
        Ok(step) => step,
        Err(e) => {
            warn!(error = %e, "rpz feed: the changes from the previous list cannot be computed; IXFR sends the whole zone");
            None
        }
    };
    Ok((zone, step))
}

/// Sends the zone, message by message, each signed when `signer` is.
async fn transfer(
    stream: &mut TcpStream,
    body: &Body,
    name_len: usize,
    mut signer: Option<Signer>,
    id: [u8; 2],
    rd: bool,
    qtype: u16,
) -> io::Result<()> {
    let qtype_at = HEADER_LEN + name_len;
    let mut m = Vec::with_capacity(super::zone::MAX_MESSAGE);
    for message in body.messages() {
        m.clear();
        m.extend_from_slice(message);
        m[0..2].copy_from_slice(&id);
        if rd {
            m[2] |= (flags::RD >> 8) as u8;
        }
        m[qtype_at..qtype_at + 2].copy_from_slice(&qtype.to_be_bytes());
        if let Some(s) = &mut signer {
            s.sign(&mut m);
        }
        write_framed(stream, &m).await?;
    }
    Ok(())
}

async fn write_framed(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::other("message over 64 KiB"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&framed))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Reads a query. `Ok(None)`: not a query at all (a response, or shorter
/// than a header): dropped. `Err`: the rcode to answer with.
fn parse(msg: &[u8]) -> Result<Option<Query<'_>>, u8> {
    if msg.len() < HEADER_LEN {
        return Ok(None);
    }
    let flags_word = u16::from_be_bytes([msg[2], msg[3]]);
    if flags_word & flags::QR != 0 {
        return Ok(None);
    }
    if flags_word & flags::OPCODE_MASK != 0 {
        return Err(RCODE_NOTIMP);
    }
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    if count(4) != 1 {
        return Err(RCODE_FORMERR);
    }
    let formerr = |_: WireError| RCODE_FORMERR;
    let mut r = Reader::at(msg, HEADER_LEN);
    let qname = tsig::read_name(&mut r).map_err(formerr)?;
    let qtype = r.u16().map_err(formerr)?;
    let qclass = r.u16().map_err(formerr)?;
    let question = &msg[HEADER_LEN..r.pos()];
    let (answers, authority, additional) = (count(6), count(8), count(10));
    let total = u32::from(answers) + u32::from(authority) + u32::from(additional);
    let mut tsig = None;
    let mut client_serial = None;
    for i in 0..total {
        let start = r.pos();
        r.skip_name().map_err(formerr)?;
        let rtype = r.u16().map_err(formerr)?;
        let _class = r.u16().map_err(formerr)?;
        let _ttl = r.u32().map_err(formerr)?;
        let rdlen = usize::from(r.u16().map_err(formerr)?);
        let rdata_at = r.pos();
        r.take(rdlen).map_err(formerr)?;
        let in_authority = i >= u32::from(answers) && i < u32::from(answers) + u32::from(authority);
        if rtype == TYPE_SOA && in_authority && qtype == TYPE_IXFR {
            let mut s = Reader::at(msg, rdata_at);
            s.skip_name().map_err(formerr)?;
            s.skip_name().map_err(formerr)?;
            client_serial = Some(s.u32().map_err(formerr)?);
        }
        if rtype == tsig::TYPE_TSIG {
            // Only as the last record of the additional section.
            if i + 1 != total || additional == 0 {
                return Err(RCODE_FORMERR);
            }
            tsig = Some(tsig::read_record(msg, start).map_err(formerr)?);
        }
    }
    if r.remaining() != 0 {
        return Err(RCODE_FORMERR);
    }
    Ok(Some(Query {
        id: [msg[0], msg[1]],
        flags: flags_word,
        question,
        qname,
        qtype,
        qclass,
        tsig,
        client_serial,
    }))
}

/// An answer of the header alone (the question could not be read).
fn header_only(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let head = msg.get(..HEADER_LEN)?;
    let query_flags = u16::from_be_bytes([head[2], head[3]]);
    let f = flags::QR | (query_flags & (flags::OPCODE_MASK | flags::RD)) | u16::from(rcode);
    let mut m = Vec::with_capacity(HEADER_LEN);
    m.extend_from_slice(&head[..2]);
    m.extend_from_slice(&f.to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    Some(m)
}

/// An answer with the query's question, `rcode`, and `answer` (one record
/// or none).
fn reply(q: &Query<'_>, rcode: u8, answer: &[u8]) -> Vec<u8> {
    let mut f = flags::QR | (q.flags & flags::RD) | u16::from(rcode & 0x0F);
    if rcode == 0 {
        f |= flags::AA;
    }
    let mut m = Vec::with_capacity(HEADER_LEN + q.question.len() + answer.len() + 128);
    m.extend_from_slice(&q.id);
    m.extend_from_slice(&f.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&u16::from(!answer.is_empty()).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(q.question);
    m.extend_from_slice(answer);
    m
}
