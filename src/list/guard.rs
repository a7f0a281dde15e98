//! Containment for the `fst` crate's panics on a malformed index.
//!
//! `fst::raw::Fst::new` checks only sizes; a name index that is signed by a
//! trusted key but malformed (a builder bug, or a compromised key) makes
//! node reads index out of bounds and panic (found by the `artifact_signed`
//! fuzz target). ward never lets that take the process down:
//!
//! * `ward list verify` walks every node once ([`super::ListArtifact::deep_check`])
//!   and refuses such a list;
//! * every lookup runs under [`guarded`]; a panic becomes a fault that the
//!   caller fails *closed* on (the query is blocked, an alarm is raised).
//!
//! The default panic hook would still print each contained panic, so a
//! hook installed once suppresses output for panics inside [`guarded`]
//! and passes every other panic to the previous hook.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err(())`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    install_hook();
    let was = CONTAINED.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(was));
    result.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_panics_and_passes_values() {
        assert_eq!(guarded(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let i = v.len() + 3;
        assert_eq!(guarded(|| v[i]), Err(()));
        // Still usable afterwards, and nested use restores the flag.
        assert_eq!(guarded(|| guarded(|| 1).unwrap_or(0) + 1), Ok(2));
        assert!(!CONTAINED.with(Cell::get));
    }
}
