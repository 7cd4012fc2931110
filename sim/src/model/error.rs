//! What a scenario that parses but says something impossible gets: the message and the key path
//! of the offending value.

use crate::scenario::KeyPath;
use std::fmt;

/// A scenario that is well-formed TOML but says something impossible or inconsistent.
#[derive(Clone, Debug)]
pub struct ScenarioError {
    pub path: KeyPath,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.0.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

pub(super) fn fail<T>(path: KeyPath, message: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError { path, message: message.into() })
}
