//! The hot-swap store for the list in force.
//!
//! Readers call [`ListStore::load`] once per query: a lock-free `ArcSwap`
//! load that never blocks, even while a swap is under way. A swap accepts
//! only a [`Verified`] list, which only the verifier can construct, so no
//! code path can install an unchecked list.
//!
//! Each installed list gets a generation number, unique for the life of
//! the process; caches use it to notice that the list changed under them.
//!
//! Every swap is also recorded in a short log of [`Activation`]s (the
//! last [`ACTIVATION_LOG`]), which the compliance reporter reads once per
//! window to report each list's activation lag. The log takes a mutex in
//! `swap` only; `load` never touches it.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwapOption, Guard};

use crate::list::{ListArtifact, Verified};

/// A list in force.
#[derive(Debug)]
pub struct Active {
    pub list: Verified<ListArtifact>,
    /// Unique per swap within this process; never 0.
    pub generation: u64,
    /// When this node started enforcing the list.
    pub activated_at: jiff::Timestamp,
}

impl Deref for Active {
    type Target = ListArtifact;
    fn deref(&self) -> &ListArtifact {
        &self.list
    }
}

/// A list in force, as readers hold it.
pub type Snapshot = Arc<Active>;

/// How many activations [`ListStore::activations_after`] remembers.
pub const ACTIVATION_LOG: usize = 64;

/// One list put in force, as the activation log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub generation: u64,
    pub list_id: String,
    pub serial: u64,
    pub sha256: [u8; 32],
    pub issued_at: jiff::Timestamp,
    pub activated_at: jiff::Timestamp,
}

/// Holds the current list, if any.
#[derive(Debug)]
pub struct ListStore {
    current: ArcSwapOption<Active>,
    generations: AtomicU64,
    log: Mutex<VecDeque<Activation>>,
    /// The generation in force (0: none yet), for tasks that act on each
    /// new list rather than per query (the RPZ feed's NOTIFY).
    activated: tokio::sync::watch::Sender<u64>,
}

impl Default for ListStore {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::default(),
            generations: AtomicU64::default(),
            log: Mutex::default(),
            activated: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl ListStore {
    /// An empty store: no list yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes on every swap (the latest generation; missed ones are not
    /// queued).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.activated.subscribe()
    }

    /// A store holding `list`.
    pub fn with(list: Verified<ListArtifact>) -> Self {
        let store = Self::new();
        store.swap(list);
        store
    }

    /// The current snapshot. Cheap; take it once per query.
    pub fn load(&self) -> Guard<Option<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`, for long-lived holders.
    pub fn load_full(&self) -> Option<Snapshot> {
        self.current.load_full()
    }

    /// Installs `list` and returns the previous one.
    pub fn swap(&self, list: Verified<ListArtifact>) -> Option<Snapshot> {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let active = Active {
            list,
            generation,
            activated_at: jiff::Timestamp::now(),
        };
        {
            // A poisoned log only means a panic elsewhere mid-push; the
            // entries are plain data and still usable.
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            if log.len() == ACTIVATION_LOG {
                log.pop_front();
            }
            log.push_back(Activation {
                generation,
                list_id: active.list_id().to_owned(),
                serial: active.serial(),
                sha256: active.sha256(),
                issued_at: active.manifest().issued_at,
                activated_at: active.activated_at,
            });
        }
        let previous = self.current.swap(Some(Arc::new(active)));
        self.activated.send_replace(generation);
        previous
    }

    /// The activations with a generation above `generation`, oldest
    /// first (at most the last [`ACTIVATION_LOG`]).
    pub fn activations_after(&self, generation: u64) -> Vec<Activation> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .filter(|a| a.generation > generation)
            .cloned()
            .collect()
    }
}
