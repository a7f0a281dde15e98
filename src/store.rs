//! The hot-swap store for the list in force.
//!
//! Readers call [`ListStore::load`] once per query: a lock-free `ArcSwap`
//! load that never blocks, even while a swap is under way. A swap accepts
//! only a [`Verified`] list, which only the verifier can construct, so no
//! code path can install an unchecked list.

use std::sync::Arc;

use arc_swap::{ArcSwapOption, Guard};

use crate::list::{ListArtifact, Verified};

/// A list in force, as readers see it.
pub type Snapshot = Arc<Verified<ListArtifact>>;

/// Holds the current list, if any.
#[derive(Debug, Default)]
pub struct ListStore {
    current: ArcSwapOption<Verified<ListArtifact>>,
}

impl ListStore {
    /// An empty store: no list yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `list`.
    pub fn with(list: Verified<ListArtifact>) -> Self {
        Self {
            current: ArcSwapOption::from_pointee(list),
        }
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
        self.current.swap(Some(Arc::new(list)))
    }
}
