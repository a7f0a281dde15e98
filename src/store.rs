//! The hot-swap store for the list in force.
//!
//! Readers call [`ListStore::load`] once per query: a lock-free `ArcSwap`
//! load that never blocks, even while a swap is under way. A swap accepts
//! only a [`Verified`] list, which only the verifier can construct, so no
//! code path can install an unchecked list.
//!
//! Each installed list gets a generation number, unique for the life of
//! the process; caches use it to notice that the list changed under them.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Holds the current list, if any.
#[derive(Debug, Default)]
pub struct ListStore {
    current: ArcSwapOption<Active>,
    generations: AtomicU64,
}

impl ListStore {
    /// An empty store: no list yet.
    pub fn new() -> Self {
        Self::default()
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
        self.current.swap(Some(Arc::new(Active {
            list,
            generation,
            activated_at: jiff::Timestamp::now(),
        })))
    }
}
