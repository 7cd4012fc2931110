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

impl KeyPath {
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
