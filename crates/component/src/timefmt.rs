//! The two time formats v1 components put on the wire: Ruby's `Time#to_s`
//! (`"2012-06-05 22:21:03 +0000"`, the `start` of `vcap.component.announce`) and
//! VCAP's uptime string (`"0d:0h:5m:12s"`). No date crate needed for either.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `"YYYY-MM-DD HH:MM:SS +0000"` in UTC, as Ruby's `Time#to_s` prints a UTC time.
pub fn ruby_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `"<d>d:<h>h:<m>m:<s>s"`, as `VCAP.uptime_string`.
pub fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d:{}h:{}m:{}s",
        s / 86_400,
        (s % 86_400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_time_matches_the_reference_example() {
        let t = UNIX_EPOCH + Duration::from_secs(1_338_934_863);
        assert_eq!(ruby_time(t), "2012-06-05 22:21:03 +0000");
        assert_eq!(ruby_time(UNIX_EPOCH), "1970-01-01 00:00:00 +0000");
    }

    #[test]
    fn uptime_matches_vcap() {
        assert_eq!(uptime(Duration::from_secs(312)), "0d:0h:5m:12s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d:1h:1m:1s");
    }
}
