//! ward: enforcement of the national child-protection blocklist on ISP
//! resolvers, with signed lists and signed compliance reports.
//!
//! # Layout
//!
//! Dependencies point down this list; the pure core is at the bottom.
//!
//! * [`cli`]: one file per `ward` subcommand; parses arguments and calls
//!   into the library.
//! * [`collector`]: the ministry's receiver: verifies signed compliance
//!   reports against the node registry and stores them (SQLite).
//! * [`sni`]: the transparent TLS (SNI) and HTTP (Host) filters for
//!   steered traffic: ClientHello reader, verdict, refuse or relay.
//! * [`blockpage`]: the HTTP 451 notice page and the request-head reader
//!   it shares with the HTTP filter.
//! * [`report`]: signed compliance reports per window: counter deltas,
//!   the small-count rule, the disk spool, HTTPS delivery with back-off.
//! * [`probe`]: `ward probe`'s DNS and TLS probes and their verdicts.
//! * [`update`]: where lists come from (`list.url`, `list.file`), the one
//!   acceptance rule for all of them (verify, never roll back, never an
//!   expired or foreign list), the last-known-good copy, the swap, and the
//!   watch on the file on disk.
//! * [`store`]: the `ArcSwap` hot-swap store of the list in force.
//! * [`list`]: the signed artifact: source format, compiler, verifier,
//!   matcher.
//! * [`keys`]: Ed25519 key files and key ids.
//! * [`domain`]: validated domain names and reversed-label keys (pure).
//! * [`process`]: privilege drop after binding, systemd notification and
//!   watchdog.
//! * [`fsx`]: atomic, durable file writes.
//! * [`sys`]: the only `unsafe`: lists copied into sealed memory and
//!   mapped, batched UDP system calls.
//!
//! See `docs/ARCHITECTURE.md` for how data flows between them.

#![deny(unsafe_code)]

pub mod admin;
pub mod blockpage;
pub mod cli;
pub mod collector;
pub mod config;
pub mod dns;
pub mod domain;
pub mod fsx;
pub mod keys;
pub mod list;
pub mod metrics;
pub mod policy;
pub mod probe;
pub mod process;
pub mod readers;
pub mod report;
pub mod serve;
pub mod sni;
pub mod store;
#[allow(unsafe_code)]
pub mod sys;
pub mod update;
