//! School hours and walled gardens: a profile's `mode`, the node's time
//! zone (`[node] time_zone`) and the clock that schedules are read on.
//!
//! The clock is the system's, unless the test-only environment variable
//! [`TEST_NOW_ENV`] sets the time ward starts at (it then runs on from
//! there at the system clock's pace): the integration tests use it to put
//! `ward serve` and `ward check` inside or outside a window without
//! waiting for one.

use std::sync::OnceLock;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime as Zoned};
use serde::Serialize;

/// The time zone schedules are read in when `[node] time_zone` is not set.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Ho_Chi_Minh";

/// Test only: an RFC 3339 instant (`2025-03-03T07:30:00+07:00`) the
/// clock of schedules starts at. Not for production; undocumented in
/// `--help`.
pub const TEST_NOW_ENV: &str = "WARD_TEST_NOW";

/// `mode`: what a profile does with a name none of its rules names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Resolve it (the default): lists block, everything else resolves.
    #[default]
    Deny,
    /// A walled garden: only names in the allow file resolve.
    AllowOnly,
}

impl Mode {
    pub const CHOICES: &'static [(&'static str, Self)] =
        &[("deny", Self::Deny), ("allow_only", Self::AllowOnly)];

    /// Is it the default (written back only when not)?
    pub fn is_deny(&self) -> bool {
        *self == Self::Deny
    }
}

/// `[node]`: settings of the node as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSettings {
    /// `time_zone`: the IANA zone schedules are read in.
    #[serde(serialize_with = "zone_name")]
    pub time_zone: TimeZone,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            time_zone: default_time_zone(),
        }
    }
}

impl NodeSettings {
    /// Written back only when not the default.
    pub fn is_default(&self) -> bool {
        self.time_zone.iana_name() == Some(DEFAULT_TIME_ZONE)
    }
}

fn zone_name<S: serde::Serializer>(tz: &TimeZone, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.iana_name().unwrap_or("UTC"))
}

/// Reads an IANA time zone name (the system's database, else the copy
/// built into ward).
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!(
            "unknown time zone {name:?}: write an IANA name such as \"{DEFAULT_TIME_ZONE}\" or \"UTC\""
        )
    })
}

/// [`DEFAULT_TIME_ZONE`]; UTC+7 without a name should the built-in
/// database lack it (it does not: ward carries a copy).
pub fn default_time_zone() -> TimeZone {
    TimeZone::get(DEFAULT_TIME_ZONE).unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(7)))
}

/// The schedules' clock: now, in `tz`.
pub fn now_in(tz: &TimeZone) -> Zoned {
    now().to_zoned_datetime(tz.clone())
}

/// The schedules' clock: the system's, shifted by [`TEST_NOW_ENV`].
pub fn now() -> Timestamp {
    let shift = *TEST_SHIFT.get_or_init(test_shift);
    Timestamp::now()
        .checked_add(shift)
        .unwrap_or_else(|_| Timestamp::now())
}

static TEST_SHIFT: OnceLock<SignedDuration> = OnceLock::new();

/// How far [`TEST_NOW_ENV`] puts the clock from the system's; zero
/// without it (or with a value that is not an instant, which is logged).
fn test_shift() -> SignedDuration {
    let Ok(text) = std::env::var(TEST_NOW_ENV) else {
        return SignedDuration::ZERO;
    };
    match text.parse::<Timestamp>() {
        Ok(at) => {
            tracing::warn!(%at, "{TEST_NOW_ENV} is set: schedules run on a test clock");
            at.duration_since(Timestamp::now())
        }
        Err(e) => {
            tracing::error!(value = %text, error = %e, "{TEST_NOW_ENV} is not an RFC 3339 instant; ignored");
            SignedDuration::ZERO
        }
    }
}
