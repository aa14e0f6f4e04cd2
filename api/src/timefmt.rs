//! Timestamps on the wire: ISO 8601 in UTC with milliseconds (`2024-12-21T10:30:00.123Z`),
//! and the date forms clients send in filters and schedules.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::ApiError;

pub fn iso(millis: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000) else {
        return String::new();
    };
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_default()
}

pub fn iso_opt(millis: Option<i64>) -> Option<String> {
    millis.map(iso)
}

/// Which end of a day a bare date stands for.
#[derive(Clone, Copy)]
pub enum DayEnd {
    Start,
    End,
}

/// Reads RFC 3339 (`2024-12-21T10:30:00Z`, any offset), a zone-less date-time (UTC), or a
/// bare date (`2024-12-21`, the start or end of that UTC day).
pub fn parse_instant(name: &str, raw: &str, day_end: DayEnd) -> Result<i64, ApiError> {
    let raw = raw.trim();
    let bad = || {
        ApiError::bad_request(
            "invalid_date",
            format!("`{name}` must be an ISO 8601 date or date-time, e.g. 2024-12-21T10:30:00Z"),
        )
    };
    let at = if let Ok(at) = OffsetDateTime::parse(raw, &Rfc3339) {
        at
    } else if let Ok(at) = PrimitiveDateTime::parse(
        raw,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    ) {
        at.assume_utc()
    } else if let Ok(date) = Date::parse(raw, format_description!("[year]-[month]-[day]")) {
        let time = match day_end {
            DayEnd::Start => Time::MIDNIGHT,
            DayEnd::End => Time::from_hms_milli(23, 59, 59, 999).map_err(|_| bad())?,
        };
        PrimitiveDateTime::new(date, time).assume_utc()
    } else {
        return Err(bad());
    };
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(millis).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        assert_eq!(iso(1_734_777_000_123), "2024-12-21T10:30:00.123Z");
    }

    #[test]
    fn parses_the_forms_clients_send() {
        let at = 1_734_777_000_000;
        assert_eq!(
            parse_instant("d", "2024-12-21T10:30:00Z", DayEnd::Start).ok(),
            Some(at)
        );
        assert_eq!(
            parse_instant("d", "2024-12-21T11:30:00+01:00", DayEnd::Start).ok(),
            Some(at)
        );
        assert_eq!(
            parse_instant("d", "2024-12-21T10:30:00", DayEnd::Start).ok(),
            Some(at)
        );
        assert_eq!(
            parse_instant("d", "2024-12-21", DayEnd::Start).ok(),
            Some(1_734_739_200_000)
        );
        assert_eq!(
            parse_instant("d", "2024-12-21", DayEnd::End).ok(),
            Some(1_734_739_200_000 + 86_400_000 - 1)
        );
        assert!(parse_instant("d", "yesterday", DayEnd::Start).is_err());
        assert!(parse_instant("d", "2024-13-01", DayEnd::Start).is_err());
    }
}
