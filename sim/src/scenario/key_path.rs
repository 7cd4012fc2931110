//! Key paths into the scenario document (`traffic[0].arrivals.rate`): how an error found after
//! parsing names the value it is about, so the caller, which has the file, can point at its line
//! and column. The planner's sweep parameters are key paths too.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}
impl From<&String> for PathSegment {
    fn from(key: &String) -> Self {
        PathSegment::Key(key.clone())
    }
}
impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// A key path into the scenario document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<PathSegment>);

/// A dotted path that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad parameter path {0:?}: write keys joined by dots, e.g. serving.batching.max_batch")]
pub struct BadKeyPath(pub String);

impl KeyPath {
    /// Parses a path as sweeps write it: keys joined by dots (`serving.batching.max_batch`), quoted
    /// keys (`instance_types."g5.xlarge".usd_per_hour`), and indices as `[0]` or `.0`
    /// (`traffic[0].arrivals.rate`, `traffic.0.arrivals.rate`).
    pub fn parse(text: &str) -> Result<KeyPath, BadKeyPath> {
        let bad = || BadKeyPath(text.to_string());
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').ok_or_else(bad)?;
                segments.push(PathSegment::Key(quoted[..end].to_string()));
                rest = &quoted[end + 1..];
            } else if let Some(indexed) = rest.strip_prefix('[') {
                let end = indexed.find(']').ok_or_else(bad)?;
                segments.push(PathSegment::Index(indexed[..end].parse().map_err(|_| bad())?));
                rest = &indexed[end + 1..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let key = &rest[..end];
                if key.is_empty() {
                    return Err(bad());
                }
                segments.push(match key.parse::<usize>() {
                    Ok(i) if !segments.is_empty() => PathSegment::Index(i),
                    _ => PathSegment::Key(key.to_string()),
                });
                rest = &rest[end..];
            }
            if let Some(after) = rest.strip_prefix('.') {
                if after.is_empty() {
                    return Err(bad());
                }
                rest = after;
            }
        }
        if segments.is_empty() {
            return Err(bad());
        }
        Ok(KeyPath(segments))
    }

    pub fn join(&self, segment: impl Into<PathSegment>) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if i == 0 => write!(f, "{key}")?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// `path!["traffic", 0, "arrivals"]`
#[macro_export]
macro_rules! path {
    ($($segment:expr),* $(,)?) => {
        $crate::scenario::KeyPath(vec![$($crate::scenario::PathSegment::from($segment)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotted_quoted_and_indexed_paths() {
        let parsed = KeyPath::parse("instance_types.\"g5.xlarge\".usd_per_hour").unwrap();
        assert_eq!(parsed, crate::path!["instance_types", "g5.xlarge", "usd_per_hour"]);
        assert_eq!(KeyPath::parse("traffic[0].arrivals.rate").unwrap(), crate::path!["traffic", 0, "arrivals", "rate"]);
        assert_eq!(KeyPath::parse("traffic.0.origin").unwrap(), crate::path!["traffic", 0, "origin"]);
        assert_eq!(KeyPath::parse("traffic[2]").unwrap().to_string(), "traffic[2]");
        for bad in ["", "a..b", "a.", "a[x]", "\"open"] {
            assert_eq!(KeyPath::parse(bad), Err(BadKeyPath(bad.to_string())), "{bad}");
        }
    }
}
