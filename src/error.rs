//! One error type for the CLI: a one-line message and the exit code it maps to.

use std::fmt;

/// Exit codes: 0 success, 1 a check failed (SLO gate), 2 bad input or environment.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    /// Bad input or environment: exit code 2.
    pub fn input(message: impl Into<String>) -> Self {
        CliError { message: message.into(), code: 2 }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
