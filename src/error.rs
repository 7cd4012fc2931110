//! One error type for the CLI: a one-line message and the exit code it maps to.

/// Exit codes: 0 success, 1 a check failed (SLO gate), 2 bad input or environment.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
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
