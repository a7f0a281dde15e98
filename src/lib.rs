//! ward: enforcement of the national child-protection blocklist on ISP
//! resolvers, with signed lists and signed compliance reports.
//!
//! # Layout
//!
//! Every module, in dependency order: each uses only modules below it
//! (`.ci/import-cycles.py` keeps it so). The pure core is at the bottom.
//!
//! * [`cli`]: one file per `ward` subcommand; parses arguments, calls
//!   into the library, maps errors to exit codes.
//! * [`serve`]: `ward serve`'s start-up order, services, signals, drain.
//! * [`collector`]: the ministry's receiver of signed reports and probe
//!   results: storage (SQLite, PostgreSQL), dashboard, API.
//! * [`process`]: privilege drop, systemd notification and watchdog.
//! * [`probe`]: `ward probe`'s DNS and TLS probes and their verdicts.
//! * [`report`]: signed compliance reports: windows, spool, delivery.
//! * [`admin`]: `/metrics`, `/healthz`, `/readyz`, `/list/status`.
//! * [`metrics`]: the Prometheus registry: every `ward_` name, registered
//!   once; hands each area below its own handles.
//! * [`sni`]: the transparent TLS (SNI) and HTTP (Host) filters.
//! * [`update`]: where lists come from (`list.url`, `list.file`), the one
//!   acceptance rule for all of them, the last-known-good copy, the swap,
//!   and the watch on the file on disk; the extra lists and the profiles
//!   over them, at start and on SIGHUP.
//! * [`config`]: TOML into validated settings, every error at once.
//! * [`dns`]: the resolver: listeners, the per-query engine, cache,
//!   upstreams, wire format.
//! * [`tls`]: the `[dot]`/`[doh]` certificates, swapped whole on reload
//!   under listeners whose resolver picks one by server name.
//! * [`readers`]: PEM chains and keys, CA bundles, PostgreSQL URLs (a
//!   leaf).
//! * [`profiles`]: school profiles: the `[[lists]]`/`[[profile]]`
//!   settings and the snapshot of profiles in force the engine reads.
//! * [`blockpage`]: the HTTP 451 notice page and the request-head reader.
//! * [`policy`]: the block decision: one name normaliser, one verdict
//!   function, school profiles and their selection (pure).
//! * [`store`]: the `ArcSwap` hot-swap store of the list in force.
//! * [`list`]: the signed artifact: source format, compiler, verifier,
//!   matcher.
//! * [`sys`]: the only `unsafe`: lists in sealed memory, batched UDP
//!   system calls, returning freed memory.
//! * [`keys`]: Ed25519 key files and key ids.
//! * [`fsx`]: atomic, durable file writes; file stamps.
//! * [`instrument`]: `label_enum!`, the sharded `HotCounter`, the label
//!   vocabulary two areas share (a leaf: every area records through it).
//! * [`domain`]: validated domain names and reversed-label keys (pure).
//! * [`errors`]: an error and its causes as one line of text (pure).
//! * [`spelling`]: how settings are written back as TOML: `serde`
//!   helpers for durations, byte sizes, addresses and paths (pure).
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
pub mod errors;
pub mod fsx;
pub mod instrument;
pub mod keys;
pub mod list;
pub mod metrics;
pub mod policy;
pub mod probe;
pub mod process;
pub mod profiles;
pub mod readers;
pub mod report;
pub mod rpz;
pub mod serve;
pub mod sni;
pub mod spelling;
pub mod store;
#[allow(unsafe_code)]
pub mod sys;
pub mod tls;
pub mod update;
