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

/// `message` on one line: line breaks and other control characters that bad input carries into a
/// message (a `--set` value with a newline, a name with a carriage return) are written escaped, as
/// `\n`, so that the error stays the one line the contract promises.
pub fn escaped(message: &str) -> String {
    let mut line = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() && c != '\t' {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(super::escaped("--set a=\"x\ny\": bad\r"), "--set a=\"x\\ny\": bad\\r");
        assert_eq!(super::escaped("東京: 1 µs"), "東京: 1 µs");
    }
}
