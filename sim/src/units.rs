//! Durations and rates as people write them in scenario files (`"5ms"`, `"1.5h"`, `"400/s"`).
//!
//! Simulated time is an integer count of nanoseconds ([`Nanos`]): integer time keeps event order
//! exact and reproducible, where floating-point time would drift with the magnitude of the clock.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Simulated time and durations, in nanoseconds.
pub type Nanos = u64;

pub const NANOS_PER_SEC: f64 = 1e9;

pub fn secs_to_nanos(seconds: f64) -> Nanos {
    (seconds * NANOS_PER_SEC).round().max(0.0) as Nanos
}

pub fn nanos_to_secs(nanos: Nanos) -> f64 {
    nanos as f64 / NANOS_PER_SEC
}

/// A non-negative duration, written with a unit: `ns`, `us` (or `µs`), `ms`, `s`, `m`/`min`, `h`, `d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub Nanos);

impl Duration {
    pub fn nanos(self) -> Nanos {
        self.0
    }
    pub fn secs(self) -> f64 {
        nanos_to_secs(self.0)
    }
    pub fn from_secs_f64(seconds: f64) -> Self {
        Duration(secs_to_nanos(seconds))
    }
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    // "1e" followed by a unit letter is not an exponent: back off a trailing 'e'.
    let (mut number, mut unit) = text.split_at(end);
    if number.ends_with(['e', 'E']) {
        number = &text[..end - 1];
        unit = &text[end - 1..];
    }
    (number.trim(), unit.trim())
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    })
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (number, unit) = split_number(text.trim());
        let value: f64 = number.parse().map_err(|_| {
            format!("invalid duration {text:?}: expected a number and a unit, e.g. \"5ms\" or \"1.5h\"")
        })?;
        let scale = unit_seconds(unit).ok_or_else(|| {
            if unit.is_empty() {
                format!("duration {text:?} needs a unit (ns, us, ms, s, min, h, d), e.g. \"{text}ms\"")
            } else {
                format!("unknown duration unit {unit:?} in {text:?}: use ns, us, ms, s, min, h or d")
            }
        })?;
        let seconds = value * scale;
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(format!("duration {text:?} must be finite and not negative"));
        }
        if seconds > 1e9 {
            return Err(format!("duration {text:?} is too long (over 30 years)"));
        }
        Ok(Duration::from_secs_f64(seconds))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let (scale, unit) = if n == 0 {
            (1, "s")
        } else if n.is_multiple_of(3_600_000_000_000) {
            (3_600_000_000_000, "h")
        } else if n.is_multiple_of(60_000_000_000) {
            (60_000_000_000, "min")
        } else if n.is_multiple_of(1_000_000_000) {
            (1_000_000_000, "s")
        } else if n.is_multiple_of(1_000_000) {
            (1_000_000, "ms")
        } else if n.is_multiple_of(1_000) {
            (1_000, "us")
        } else {
            (1, "ns")
        };
        write!(f, "{}{}", n / scale, unit)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"5ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!("duration {v} needs a unit: write it as a string, e.g. \"{v}ms\"")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!("duration {v} needs a unit: write it as a string, e.g. \"{v}ms\"")))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A rate in events per second. Written as `"400/s"`, `"24000/min"`, `"2.5k/s"`, or a bare number
/// meaning per second. Parsing accepts zero and negative numbers so that validation can name them
/// with the key's location; see [`crate::validate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl Rate {
    pub fn per_sec(self) -> f64 {
        self.0
    }
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (amount, per) = match text.split_once('/') {
            Some((a, p)) => (a.trim(), p.trim()),
            None => (text.trim(), "s"),
        };
        let (number, multiplier) = match amount.strip_suffix(['k', 'K']) {
            Some(n) => (n, 1e3),
            None => match amount.strip_suffix('M') {
                Some(n) => (n, 1e6),
                None => (amount, 1.0),
            },
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("invalid rate {text:?}: expected e.g. \"400/s\", \"24000/min\" or \"2.5k/s\""))?;
        let per_seconds = match per {
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "ms" => 1e-3,
            _ => return Err(format!("unknown rate unit \"/{per}\" in {text:?}: use /s, /min, /h or /d")),
        };
        let rate = value * multiplier / per_seconds;
        if !rate.is_finite() {
            return Err(format!("rate {text:?} is not finite"));
        }
        Ok(Rate(rate))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;
        impl Visitor<'_> for RateVisitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate, e.g. \"400/s\" or a number per second")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                Ok(Rate(v))
            }
        }
        deserializer.deserialize_any(RateVisitor)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}/s", self.0))
    }
}

/// An amount of memory in bytes, written with a unit: `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000) or
/// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), e.g. `"440MB"`, `"24GiB"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Bytes(pub f64);

impl Bytes {
    pub fn bytes(self) -> f64 {
        self.0
    }
    /// In GiB (what `nvidia-smi` and GPU datasheets call GB).
    pub fn gib(self) -> f64 {
        self.0 / GIB
    }
}

/// Bytes in a GiB.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn unit_bytes(unit: &str) -> Option<f64> {
    Some(match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => GIB,
        "TiB" => GIB * 1024.0,
        _ => return None,
    })
}

impl std::str::FromStr for Bytes {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (number, unit) = split_number(text.trim());
        let value: f64 = number.parse().map_err(|_| {
            format!("invalid memory size {text:?}: expected a number and a unit, e.g. \"440MB\" or \"24GiB\"")
        })?;
        let scale = unit_bytes(unit).ok_or_else(|| {
            if unit.is_empty() {
                format!("memory size {text:?} needs a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. \"{text}GB\"")
            } else {
                format!("unknown memory unit {unit:?} in {text:?}: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
            }
        })?;
        let bytes = value * scale;
        if !bytes.is_finite() || bytes < 0.0 {
            return Err(format!("memory size {text:?} must be finite and not negative"));
        }
        if bytes > 1e15 {
            return Err(format!("memory size {text:?} is too large (over a petabyte)"));
        }
        Ok(Bytes(bytes))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}GiB", self.gib())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a memory size with a unit, e.g. \"440MB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                Err(E::custom(format!("memory size {v} needs a unit: write it as a string, e.g. \"{v}GB\"")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bytes, E> {
                Err(E::custom(format!("memory size {v} needs a unit: write it as a string, e.g. \"{v}GB\"")))
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}B", self.0))
    }
}

/// The schema of a memory size: a number and one of the units [`Bytes`] reads.
impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bytes".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9.]+([eE][+-]?[0-9]+)?\s*(B|KB|kB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
            "description": "A memory size with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).",
            "examples": ["440MB", "24GiB"]
        })
    }
}

/// The schema editors check a duration against: a number and one of the units [`Duration`] reads.
impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9.]+([eE][+-]?[0-9]+)?\s*(ns|us|µs|ms|s|sec|m|min|h|d)\s*$",
            "description": "A duration with a unit: ns, us, ms, s, min, h or d, e.g. \"5ms\" or \"1.5h\".",
            "examples": ["5ms", "30s", "1h"]
        })
    }
}

/// The schema of a rate: a number per second, or text with a per-unit.
impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "number", "description": "Requests per second." },
                {
                    "type": "string",
                    "pattern": r"^\s*[0-9.eE+-]+\s*[kKM]?\s*(/\s*(s|sec|m|min|h|d|ms))?\s*$",
                    "description": "A rate such as \"400/s\", \"24000/min\" or \"2.5k/s\"."
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        let cases = [
            ("5ms", 5_000_000),
            ("90s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("250us", 250_000),
            ("250µs", 250_000),
            ("10min", 600_000_000_000),
            ("2m", 120_000_000_000),
            ("7ns", 7),
            ("0s", 0),
            ("1e3ms", 1_000_000_000),
            ("1d", 86_400_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(text.parse::<Duration>().unwrap().nanos(), nanos, "{text}");
        }
    }

    #[test]
    fn durations_reject_missing_units_and_negatives() {
        assert!("5".parse::<Duration>().unwrap_err().contains("needs a unit"));
        assert_eq!("440MB".parse::<Bytes>().unwrap().bytes(), 440e6);
        assert_eq!("24GiB".parse::<Bytes>().unwrap().gib(), 24.0);
        assert_eq!("1.5 KiB".parse::<Bytes>().unwrap().bytes(), 1536.0);
        assert!("24".parse::<Bytes>().unwrap_err().contains("needs a unit"));
        assert!("24gb".parse::<Bytes>().unwrap_err().contains("unknown memory unit"));
        assert!("-1GB".parse::<Bytes>().is_err());
        assert!("5 parsecs".parse::<Duration>().unwrap_err().contains("unknown duration unit"));
        assert!("-1s".parse::<Duration>().unwrap_err().contains("not negative"));
        assert!("ms".parse::<Duration>().is_err());
    }

    #[test]
    fn durations_display_round_trips() {
        for text in ["5ms", "90s", "90min", "2h", "250us", "7ns"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
        assert_eq!("1.5h".parse::<Duration>().unwrap().to_string(), "90min");
    }

    #[test]
    fn rates_parse() {
        let cases = [("400/s", 400.0), ("24000/min", 400.0), ("2.5k/s", 2500.0), ("36/h", 0.01), ("12", 12.0)];
        for (text, per_sec) in cases {
            let r: Rate = text.parse().unwrap();
            assert!((r.per_sec() - per_sec).abs() < 1e-12, "{text}");
        }
        assert!("fast".parse::<Rate>().is_err());
        assert!("4/fortnight".parse::<Rate>().is_err());
        assert_eq!("-5/s".parse::<Rate>().unwrap().per_sec(), -5.0);
    }
}
