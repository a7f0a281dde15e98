//! Query parameters of the dashboard, API and export (pure): a time range
//! or a year, or a message for the 400 saying what is wrong and where.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

/// The node page's default range: the last 24 hours.
pub const DEFAULT_HOURS: i64 = 24;
/// The longest range of the node page and its API.
pub const MAX_NODE_DAYS: i64 = 92;
/// The longest range of `GET /export.csv` (it streams, but a range is
/// still a promise of how much work one request may cause).
pub const MAX_EXPORT_DAYS: i64 = 366;

/// `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Why a query parameter is refused: the body of the 400, saying what is
/// wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error(
        "query parameter {name}={text:?} is not an RFC 3339 time such as 2026-11-29T18:00:00Z: {source}"
    )]
    Timestamp {
        name: String,
        text: String,
        #[source]
        source: jiff::Error,
    },
    #[error("the range is empty or inverted: from={from} is not before to={to}")]
    Inverted { from: Timestamp, to: Timestamp },
    #[error("the range from={from} to={to} is longer than {max_days} days; ask for less")]
    TooLong {
        from: Timestamp,
        to: Timestamp,
        max_days: i64,
    },
    #[error("unknown query parameter {name:?}; this page takes {}", known.join(", "))]
    Unknown {
        name: String,
        known: &'static [&'static str],
    },
    #[error("give either hours=N or from=/to=, not both")]
    HoursAndRange,
    #[error("query parameter hours={text:?} is not a whole number of hours from 1 to {max}")]
    Hours { text: String, max: i64 },
    #[error(
        "both from= and to= are required, RFC 3339, e.g. ?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
    )]
    ExportBounds,
    #[error("year= is required, e.g. ?year={this_year}")]
    YearMissing { this_year: i16 },
    #[error("query parameter year={text:?} is not a year from 2000 to {this_year}")]
    Year { text: String, this_year: i16 },
    #[error("year {year}: {source}")]
    YearRange {
        year: i16,
        #[source]
        source: jiff::Error,
    },
}

fn timestamp(
    params: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<Timestamp>, ParamError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    text.trim()
        .parse::<Timestamp>()
        .map(Some)
        .map_err(|source| ParamError::Timestamp {
            name: name.to_owned(),
            text: text.clone(),
            source,
        })
}

fn check_span(range: Range, max_days: i64) -> Result<Range, ParamError> {
    let Range { from, to } = range;
    if from >= to {
        return Err(ParamError::Inverted { from, to });
    }
    if to.duration_since(from) > SignedDuration::from_hours(24 * max_days) {
        return Err(ParamError::TooLong { from, to, max_days });
    }
    Ok(range)
}

fn unknown(
    params: &BTreeMap<String, String>,
    known: &'static [&'static str],
) -> Result<(), ParamError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ParamError::Unknown {
            name: k.clone(),
            known,
        }),
        None => Ok(()),
    }
}

/// The node page's range: `from` and/or `to` (RFC 3339; `to` defaults to
/// `now`, `from` to `to` − 24 h), or `hours=N` back from `now`.
pub fn node_range(params: &BTreeMap<String, String>, now: Timestamp) -> Result<Range, ParamError> {
    unknown(params, &["from", "to", "hours"])?;
    let from = timestamp(params, "from")?;
    let to = timestamp(params, "to")?;
    let hours = match params.get("hours") {
        None => None,
        Some(text) => {
            if from.is_some() || to.is_some() {
                return Err(ParamError::HoursAndRange);
            }
            match text.trim().parse::<i64>() {
                Ok(n) if (1..=24 * MAX_NODE_DAYS).contains(&n) => Some(n),
                _ => {
                    return Err(ParamError::Hours {
                        text: text.clone(),
                        max: 24 * MAX_NODE_DAYS,
                    });
                }
            }
        }
    };
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - SignedDuration::from_hours(hours.unwrap_or(DEFAULT_HOURS)));
    check_span(Range { from, to }, MAX_NODE_DAYS)
}

/// The export's range: `from` and `to`, both required.
pub fn export_range(params: &BTreeMap<String, String>) -> Result<Range, ParamError> {
    unknown(params, &["from", "to"])?;
    let (Some(from), Some(to)) = (timestamp(params, "from")?, timestamp(params, "to")?) else {
        return Err(ParamError::ExportBounds);
    };
    check_span(Range { from, to }, MAX_EXPORT_DAYS)
}

/// The annual report's `year`: required, 2000 to the current year.
pub fn year(params: &BTreeMap<String, String>, now: Timestamp) -> Result<i16, ParamError> {
    unknown(params, &["year"])?;
    let this_year = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).year();
    let Some(text) = params.get("year") else {
        return Err(ParamError::YearMissing { this_year });
    };
    match text.trim().parse::<i16>() {
        Ok(y) if (2000..=this_year).contains(&y) => Ok(y),
        _ => Err(ParamError::Year {
            text: text.clone(),
            this_year,
        }),
    }
}

/// `[YYYY-01-01, YYYY+1-01-01)` in UTC.
pub fn year_range(year: i16) -> Result<Range, ParamError> {
    let start = |y: i16| {
        jiff::civil::date(y, 1, 1)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|source| ParamError::YearRange { year: y, source })
    };
    Ok(Range {
        from: start(year)?,
        to: start(year + 1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn node_ranges() {
        let now = ts("2026-11-29T18:00:00Z");
        let r = node_range(&q(&[]), now).unwrap();
        assert_eq!((r.from, r.to), (ts("2026-11-28T18:00:00Z"), now));
        let r = node_range(&q(&[("hours", "2")]), now).unwrap();
        assert_eq!(r.from, ts("2026-11-29T16:00:00Z"));
        let r = node_range(
            &q(&[
                ("from", "2026-11-29T10:00:00+07:00"),
                ("to", "2026-11-29T04:00:00Z"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            (r.from, r.to),
            (ts("2026-11-29T03:00:00Z"), ts("2026-11-29T04:00:00Z"))
        );
        for (bad, want) in [
            (
                q(&[("from", "yesterday")]),
                "from=\"yesterday\" is not an RFC 3339",
            ),
            (q(&[("hours", "0")]), "hours=\"0\" is not a whole number"),
            (q(&[("hours", "x")]), "hours=\"x\""),
            (
                q(&[("hours", "2"), ("to", "2026-11-29T04:00:00Z")]),
                "either hours",
            ),
            (q(&[("from", "2026-11-29T19:00:00Z")]), "empty or inverted"),
            (
                q(&[("from", "2026-01-01T00:00:00Z")]),
                "longer than 92 days",
            ),
            (q(&[("form", "x")]), "unknown query parameter \"form\""),
        ] {
            let e = node_range(&bad, now).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn export_ranges_need_both_bounds_in_order() {
        let r = export_range(&q(&[
            ("from", "2026-11-01T00:00:00Z"),
            ("to", "2026-12-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(r.to, ts("2026-12-01T00:00:00Z"));
        assert!(
            export_range(&q(&[("from", "2026-11-01T00:00:00Z")]))
                .unwrap_err()
                .to_string()
                .contains("both")
        );
        assert!(
            export_range(&q(&[
                ("from", "2026-12-01T00:00:00Z"),
                ("to", "2026-11-01T00:00:00Z")
            ]))
            .unwrap_err()
            .to_string()
            .contains("inverted")
        );
        assert!(
            export_range(&q(&[
                ("from", "2024-01-01T00:00:00Z"),
                ("to", "2026-11-01T00:00:00Z")
            ]))
            .unwrap_err()
            .to_string()
            .contains("366 days")
        );
    }

    #[test]
    fn years() {
        let now = ts("2026-11-29T18:00:00Z");
        assert_eq!(year(&q(&[("year", "2026")]), now).unwrap(), 2026);
        assert!(
            year(&q(&[("year", "2027")]), now)
                .unwrap_err()
                .to_string()
                .contains("2000 to 2026")
        );
        assert!(
            year(&q(&[]), now)
                .unwrap_err()
                .to_string()
                .contains("required")
        );
        let r = year_range(2026).unwrap();
        assert_eq!(
            (r.from, r.to),
            (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"))
        );
    }
}
