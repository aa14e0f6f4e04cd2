//! The open-loop schedule (request `i` is due `i / rate` seconds after the start) and the
//! parsing of `--duration`.

use std::time::Duration;

/// A fixed-rate schedule: request `i` is due at `start + i / rate`, whatever happened to the
/// ones before it, so that a slow answer delays no later request's due time and latency is
/// measured from when a request was due (coordinated-omission-correct), not from when a busy
/// sender got round to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
}

impl Schedule {
    /// `rate` requests a second; `None` unless it is finite and above zero.
    pub fn new(rate: f64) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then_some(Self { rate })
    }

    /// Requests a second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `index` is due, from the start.
    pub fn offset(&self, index: u64) -> Duration {
        Duration::from_secs_f64(index as f64 / self.rate)
    }

    /// How many requests are due strictly before `elapsed` (requests `0..n`).
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let exact = elapsed.as_secs_f64() * self.rate;
        // The first index whose due time is not before `elapsed`; the float product may land a
        // hair either side of a whole number, so settle it against `offset`.
        let mut n = exact.ceil() as u64;
        while n > 0 && self.offset(n - 1) >= elapsed {
            n -= 1;
        }
        while self.offset(n) < elapsed {
            n += 1;
        }
        n
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 500ms, 2m or 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("`{text}`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_requests_evenly() {
        let schedule = Schedule::new(200.0).expect("a valid rate");
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_millis(5));
        assert_eq!(schedule.offset(200), Duration::from_secs(1));
        assert_eq!(schedule.offset(3000), Duration::from_secs(15));
        let slow = Schedule::new(0.5).expect("a valid rate");
        assert_eq!(slow.offset(3), Duration::from_secs(6));
    }

    #[test]
    fn due_before_counts_the_requests_whose_time_has_come() {
        let schedule = Schedule::new(100.0).expect("a valid rate");
        assert_eq!(schedule.due_before(Duration::ZERO), 0);
        // Request 0 is due at 0 ms, so it is due before 1 µs.
        assert_eq!(schedule.due_before(Duration::from_micros(1)), 1);
        // 0, 10, …, 90 ms: ten before 100 ms (the one at 100 ms is not before it).
        assert_eq!(schedule.due_before(Duration::from_millis(100)), 10);
        assert_eq!(schedule.due_before(Duration::from_millis(101)), 11);
        assert_eq!(schedule.due_before(Duration::from_secs(10)), 1000);
        let odd = Schedule::new(3.0).expect("a valid rate");
        assert_eq!(odd.due_before(Duration::from_secs(1)), 3);
        assert_eq!(odd.due_before(Duration::from_secs(10)), 30);
        for index in 0..10_000 {
            let at = odd.offset(index);
            assert_eq!(odd.due_before(at), index, "at request {index}");
        }
    }

    #[test]
    fn rates_must_be_positive_and_finite() {
        assert!(Schedule::new(0.0).is_none());
        assert!(Schedule::new(-1.0).is_none());
        assert!(Schedule::new(f64::NAN).is_none());
        assert!(Schedule::new(f64::INFINITY).is_none());
        assert_eq!(Schedule::new(7.5).map(|s| s.rate()), Some(7.5));
    }

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 10 s "), Ok(Duration::from_secs(10)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("-3s").is_err());
    }
}
