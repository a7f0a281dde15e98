//! Extra lists (`[[lists]]`): loaded at start, before any socket serves,
//! and put together with the profiles into the snapshot the engine reads.
//!
//! A `source` list is compiled with [`LocalList`]; a signed `file` is
//! verified like the national list (a signature by one of its own trusted
//! keys, the format and index checks, not expired). A list that fails to
//! load is logged with every reason and stays unloaded: the profiles that
//! use it answer SERVFAIL (EDE 14) for the names it would decide, never
//! an unfiltered answer.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::{error, info};

use super::local::{LocalError, LocalList};
use crate::list::{self, ListArtifact, TrustedKeys, Verified, VerifyError};
use crate::policy::Overlap;
use crate::profiles::{ExtraList, ExtraListSettings, ListOrigin, ProfileSettings, Profiles};
use crate::store::ListStore;

/// Why an extra list did not load.
#[derive(Debug, thiserror::Error)]
pub enum ExtraError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("{}: {source}", .path.display())]
    Verify {
        path: PathBuf,
        #[source]
        source: VerifyError,
    },
}

/// Loads one extra list now.
pub fn load(settings: &ExtraListSettings) -> Result<Verified<ListArtifact>, ExtraError> {
    match &settings.origin {
        ListOrigin::Source { source } => Ok(LocalList::new(&settings.name, source)?.reload()?),
        ListOrigin::Signed { file, trusted_keys } => {
            let trust: TrustedKeys = trusted_keys.iter().map(|k| *k.key()).collect();
            let verify = |source| ExtraError::Verify {
                path: file.clone(),
                source,
            };
            let list = list::open_file(file, &trust).map_err(verify)?;
            list.check_expiry(jiff::Timestamp::now()).map_err(verify)?;
            Ok(list)
        }
    }
}

/// Loads every extra list (logging each failure with all its lines) and
/// builds the profiles over them.
pub fn load_profiles(
    lists: &[ExtraListSettings],
    profiles: &[ProfileSettings],
) -> Result<Profiles, Vec<Overlap>> {
    let loaded = lists
        .iter()
        .map(|settings| ExtraList {
            name: settings.name.clone(),
            list: match load(settings) {
                Ok(list) => {
                    info!(
                        name = settings.name,
                        list_id = list.list_id(),
                        serial = list.serial(),
                        "extra list loaded"
                    );
                    ListStore::with(list).load_full()
                }
                Err(e) => {
                    log_failure(&settings.name, &e);
                    None
                }
            },
        })
        .collect();
    Profiles::build(profiles, loaded)
}

fn log_failure(name: &str, e: &ExtraError) {
    let error = crate::errors::chain(e);
    error!(name, %error, "ALARM: extra list not loaded; its profiles answer SERVFAIL (EDE 14) for names it would decide, never unfiltered");
    if let ExtraError::Local(LocalError::Source { errors, .. }) = e {
        for line in errors {
            error!(name, %line, "bad line in an extra list source");
        }
    }
}

/// The profiles of a validated config, shared with the engine.
pub fn profile_store(
    lists: &[ExtraListSettings],
    profiles: &[ProfileSettings],
) -> Result<Arc<crate::profiles::ProfileStore>, Vec<Overlap>> {
    let built = load_profiles(lists, profiles)?;
    Ok(Arc::new(arc_swap::ArcSwap::from_pointee(built)))
}
