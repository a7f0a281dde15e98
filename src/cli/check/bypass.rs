//! What `ward check --config` says about `[profile.bypass]`: a name a
//! switch answers itself, and a match in the `encrypted-dns` category
//! that the `encrypted_dns` switch (not `block_categories`) blocks.

use crate::policy::bypass::{ENCRYPTED_DNS_CATEGORY, Hit, Switch};
use crate::policy::{Explanation, Profile, Rating};
use crate::profiles::ProfileSettings;

/// The switch that answers the name, unless the national list blocks it
/// first (then it is a national block like any other).
pub(super) fn answered(e: &Explanation) -> Option<Hit> {
    e.bypass.filter(|_| e.national.is_none())
}

/// The verdict line's text for a name a switch answers.
pub(super) fn verdict_text(hit: Hit) -> String {
    format!(
        "bypass\t{} by [profile.bypass] {}: {}",
        hit.answer.as_str(),
        hit.switch.key(),
        hit.switch.reason()
    )
}

/// The `bypass` object of the JSON line.
pub(super) fn json(hit: Option<Hit>) -> serde_json::Value {
    match hit {
        None => serde_json::Value::Null,
        Some(hit) => serde_json::json!({
            "switch": hit.switch.key(),
            "answer": hit.answer.as_str(),
            "reason": hit.switch.reason(),
        }),
    }
}

/// Does `encrypted_dns` (rather than the profile's own
/// `block_categories`) make a match in `category`, rated `rating`, block?
pub(super) fn forces(
    profile: Option<&Profile>,
    settings: &[ProfileSettings],
    category: &str,
    rating: Option<Rating>,
) -> bool {
    let Some(profile) = profile else {
        return false;
    };
    let configured = settings
        .iter()
        .find(|s| s.name == profile.name)
        .map_or(&[][..], |s| s.block_categories.as_slice());
    matches!(rating, Some(Rating::BlockCategories { .. }))
        && profile.bypass().forces_category(category, configured)
}

/// The rating text of a match [`forces`] says the switch blocks.
pub(super) fn forced_text(rating: Option<Rating>, age: Option<u8>) -> String {
    let age = age.map_or_else(|| "?".to_owned(), |a| a.to_string());
    let rated = match rating {
        Some(Rating::BlockCategories { min_age }) => format!("rated {min_age}+, "),
        _ => String::new(),
    };
    format!(
        "{rated}profile age {age}, but [profile.bypass] {} = true blocks category {ENCRYPTED_DNS_CATEGORY} whatever the age",
        Switch::EncryptedDns.key()
    )
}
