//! School hours: the `[[profile.schedule]]` windows and the time
//! arithmetic behind them.
//!
//! A [`Window`] blocks its categories on its days from `start` to `end`,
//! local time in the node's time zone; a window whose `start` is after its
//! `end` runs overnight (its days are the days it starts on). Whether a
//! window is open depends only on the local weekday and minute, so a
//! profile's set of open windows changes only at a window's edge:
//! [`next_change`] finds the next one, and the profiles snapshot is built
//! again then (so nothing computed inside a window outlives it: see
//! `profiles::memo`).
//!
//! Pure: the caller passes the time.

use jiff::ZonedDateTime as Zoned;
use jiff::civil::{Date, DateTime, Time, Weekday};
use serde::Serialize;

/// Minutes in a day: `end = "24:00"` is the end of the day.
pub const DAY: u16 = 24 * 60;
/// Minutes in a week.
const WEEK: u32 = 7 * DAY as u32;

/// The day names, Monday first (the bit of each in [`Window::days`]).
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One `[[profile.schedule]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Bit `i` set: the window starts on [`DAY_NAMES`]`[i]`.
    pub days: u8,
    /// Minute of the day it opens, `0..DAY`.
    pub start: u16,
    /// Minute of the day it closes, `1..=DAY`; at or before `start`:
    /// the next day (overnight). Never equal to `start`.
    pub end: u16,
    /// Categories blocked while it is open, whatever the profile's age.
    pub categories: Vec<String>,
}

impl Window {
    /// Does it close on the day after it opens?
    pub fn overnight(&self) -> bool {
        self.end <= self.start
    }

    /// Does it start on weekday `day` (0 = Monday)?
    fn starts_on(&self, day: u32) -> bool {
        self.days & (1 << day) != 0
    }

    /// The half-open spans of the week it covers, in minutes from Monday
    /// 00:00 (a span that runs past Sunday midnight is split in two).
    pub fn spans(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let length = if self.overnight() {
            u32::from(DAY - self.start) + u32::from(self.end)
        } else {
            u32::from(self.end - self.start)
        };
        for day in (0..7).filter(|&d| self.starts_on(d)) {
            let from = day * u32::from(DAY) + u32::from(self.start);
            let to = from + length;
            if to <= WEEK {
                out.push((from, to));
            } else {
                out.push((from, WEEK));
                out.push((0, to - WEEK));
            }
        }
        out
    }

    /// Is it open at minute `minute` of the week?
    fn open_at(&self, minute: u32) -> bool {
        self.spans().iter().any(|&(a, b)| a <= minute && minute < b)
    }

    /// Is it open at local time `at`?
    pub fn open(&self, at: &DateTime) -> bool {
        self.open_at(week_minute(at))
    }

    /// When the opening that holds `at` closes (local time); `None` when
    /// it is not open.
    pub fn closes(&self, at: &DateTime) -> Option<DateTime> {
        if !self.open(at) {
            return None;
        }
        let today = at.date();
        let minute = minute_of_day(at);
        let day = weekday(today.weekday());
        // The day this opening started on: today, or yesterday for the
        // morning part of an overnight window.
        let started_today = self.starts_on(day) && minute >= u32::from(self.start);
        let opened = if started_today {
            today
        } else {
            today.yesterday().ok()?
        };
        let closes_on = if self.overnight() || self.end == DAY {
            opened.tomorrow().ok()?
        } else {
            opened
        };
        Some(local(closes_on, self.end % DAY))
    }

    /// Does it share a minute of the week with `other`?
    pub fn overlaps(&self, other: &Self) -> bool {
        let theirs = other.spans();
        self.spans()
            .iter()
            .any(|&(a, b)| theirs.iter().any(|&(c, d)| a < d && c < b))
    }

    /// `"HH:MM"` of a minute of the day.
    pub fn clock(minute: u16) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    /// The days, as the config spells them.
    pub fn day_names(&self) -> Vec<&'static str> {
        (0..7)
            .filter(|&d| self.starts_on(d))
            .map(|d| DAY_NAMES[d as usize])
            .collect()
    }

    /// `"mon,tue 07:00-11:30"`: the window in a few words.
    pub fn describe(&self) -> String {
        format!(
            "{} {}-{}",
            self.day_names().join(","),
            Self::clock(self.start),
            Self::clock(self.end)
        )
    }
}

impl Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut t = s.serialize_struct("Window", 4)?;
        t.serialize_field("days", &self.day_names())?;
        t.serialize_field("start", &Self::clock(self.start))?;
        t.serialize_field("end", &Self::clock(self.end))?;
        t.serialize_field("categories", &self.categories)?;
        t.end()
    }
}

/// Reads `"HH:MM"`: a minute of the day; `"24:00"` only when `end`.
pub fn parse_clock(text: &str, end: bool) -> Result<u16, String> {
    let bad = || {
        format!(
            "invalid time {text:?}: write \"HH:MM\", 24-hour, 00:00 to 23:59{}",
            if end {
                " (or 24:00 for the end of the day)"
            } else {
                ""
            }
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if end => Ok(DAY),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Reads a day name (`"mon"`..`"sun"`) as its bit.
pub fn parse_day(text: &str) -> Result<u8, String> {
    DAY_NAMES
        .iter()
        .position(|&d| d == text)
        .map(|i| 1 << i)
        .ok_or_else(|| {
            format!(
                "invalid day {text:?}: one of {}",
                DAY_NAMES.map(|d| format!("\"{d}\"")).join(", ")
            )
        })
}

/// The windows of a profile that are open at `now`, by index.
pub fn open_windows(windows: &[Window], now: &Zoned) -> Vec<u16> {
    let at = now.datetime();
    (0..windows.len())
        .filter(|&i| windows[i].open(&at))
        .filter_map(|i| u16::try_from(i).ok())
        .collect()
}

/// The first instant after `now` at which any of `windows` opens or
/// closes (in `now`'s time zone); `None` without windows.
pub fn next_change(windows: &[Window], now: &Zoned) -> Option<Zoned> {
    let tz = now.time_zone();
    let today = now.date();
    let mut best: Option<Zoned> = None;
    // A week and a day ahead covers every edge, overnight ones included.
    for offset in -1..=8i64 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
            continue;
        };
        let day = weekday(date.weekday());
        for w in windows.iter().filter(|w| w.starts_on(day)) {
            let close_date = if w.overnight() || w.end == DAY {
                date.tomorrow().ok()
            } else {
                Some(date)
            };
            let edges = [
                Some(local(date, w.start)),
                close_date.map(|d| local(d, w.end % DAY)),
            ];
            for edge in edges.into_iter().flatten() {
                let Ok(at) = edge.to_zoned_datetime(tz.clone()) else {
                    continue;
                };
                if at.timestamp() > now.timestamp()
                    && best.as_ref().is_none_or(|b| at.timestamp() < b.timestamp())
                {
                    best = Some(at);
                }
            }
        }
    }
    best
}

/// 0 for Monday .. 6 for Sunday.
fn weekday(day: Weekday) -> u32 {
    u32::from(day.to_monday_zero_offset().unsigned_abs())
}

fn minute_of_day(at: &DateTime) -> u32 {
    u32::from(at.hour().unsigned_abs()) * 60 + u32::from(at.minute().unsigned_abs())
}

/// Minutes since Monday 00:00 of `at`'s week.
fn week_minute(at: &DateTime) -> u32 {
    weekday(at.date().weekday()) * u32::from(DAY) + minute_of_day(at)
}

/// Local time `minute` (of the day, below [`DAY`]) on `date`.
fn local(date: Date, minute: u16) -> DateTime {
    // minute < DAY: the hour is below 24 and the minute below 60, so the
    // time is valid (midnight is only a fallback that cannot happen).
    let (h, m) = ((minute / 60) as i8, (minute % 60) as i8);
    date.to_datetime(Time::new(h, m, 0, 0).unwrap_or(Time::midnight()))
}
