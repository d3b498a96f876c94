//! Durations as people write them in orc.toml and flags: `90s`, `5m`, `2h`, `1d`.

use chrono::Duration;

/// Parses `<number><unit>` with unit s, m, h or d (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: i64 =
        digits.parse().map_err(|_| format!("{text:?} is not a duration; write it like 30s, 5m, 2h or 1d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} has unknown unit {unit:?}; use s, m, h or d")),
    };
    value
        .checked_mul(seconds)
        .filter(|s| *s <= 366 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(|| format!("{text:?} is longer than a year"))
}

/// The shortest exact spelling of a duration, for messages and orc.toml.
pub fn format_duration(d: Duration) -> String {
    let s = d.num_seconds();
    let sign = if s < 0 { "-" } else { "" };
    let s = s.abs();
    if s != 0 && s % 86_400 == 0 {
        format!("{sign}{}d", s / 86_400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{sign}{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{sign}{}m", s / 60)
    } else {
        format!("{sign}{s}s")
    }
}

/// A rough age for people: `42s`, `5m`, `3h`, `2d`.
pub fn format_age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::minutes(5));
        assert_eq!(parse_duration("2h").unwrap(), Duration::hours(2));
        assert_eq!(parse_duration("1d").unwrap(), Duration::days(1));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("99999999999d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["30s", "5m", "2h", "1d", "90s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
