//! Pointing at the input: file, line and column for TOML values (by key path) and CSV fields,
//! and messages folded to one line.

use crate::error::CliError;
use sim::scenario::{KeyPath, PathSegment};
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

pub fn located(path: &Path, text: &str, span: Option<Range<usize>>, message: &str) -> CliError {
    // `toml` gives no position when nesting exceeds its recursion limit: point at the deepest place.
    if span.is_none() && message.contains("recursion limit") {
        let (offset, depth) = deepest_nesting(text);
        let (line, column) = line_column(text, offset);
        return CliError::input(format!(
            "{}:{line}:{column}: tables, arrays or dotted keys nested {depth} deep: more than the TOML reader's \
             recursion limit allows",
            path.display()
        ));
    }
    let message = one_line(message);
    match span {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            CliError::input(format!("{}:{}:{}: {}", path.display(), line, column, message))
        }
        None => CliError::input(format!("{}: {}", path.display(), message)),
    }
}

/// The byte offset where a TOML text first reaches its deepest nesting, and that depth: open
/// brackets and braces plus the dots of the key or header being written (strings and comments
/// skipped). A lexical measure, enough to point at a structure nested thousands deep.
fn deepest_nesting(text: &str) -> (usize, usize) {
    let (mut brackets, mut dots, mut deepest, mut at) = (0usize, 0usize, 0usize, 0usize);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                // Skip the string (a basic string's escapes included; triple quotes read as three).
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if quote == b'"' && bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => brackets += 1,
            b']' | b'}' => brackets = brackets.saturating_sub(1),
            b'.' => dots += 1,
            b'=' | b'\n' | b',' => dots = 0,
            _ => {}
        }
        if brackets + dots > deepest {
            (deepest, at) = (brackets + dots, i);
        }
        i += 1;
    }
    (at, deepest)
}

pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The span of the value at `path`, or of the nearest enclosing value that exists.
pub fn span_of(text: &str, path: &KeyPath) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut table: Option<&DeTable> = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for segment in &path.0 {
        let value = match segment {
            PathSegment::Key(key) => {
                let found = table.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == key));
                match found {
                    Some((k, v)) => {
                        // Point at the key itself when the value is a whole table.
                        span = Some(if matches!(v.get_ref(), DeValue::Table(_)) { k.span() } else { v.span() });
                        v
                    }
                    None => break,
                }
            }
            PathSegment::Index(i) => match array.and_then(|a| a.get(*i)) {
                Some(v) => {
                    span = Some(v.span());
                    v
                }
                None => break,
            },
        };
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    span
}

/// A CSV header's columns for an error message — only when they look like column names: a file
/// that is not the CSV it should be (a password file, a binary) is not echoed back.
pub fn shown_columns(headers: &csv::StringRecord) -> String {
    let plain = |name: &str| {
        (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || " _.-()%/".contains(c))
    };
    if headers.len() <= 64 && headers.iter().all(plain) {
        headers.iter().collect::<Vec<_>>().join(", ")
    } else {
        "none that look like column names: is this the right file?".to_string()
    }
}

/// A bad value in field `index` of a CSV record, located at its line and column.
pub fn field_error(path: &Path, record: &csv::StringRecord, index: usize, what: &str) -> CliError {
    let line = record.position().map_or(0, |p| p.line());
    // Field ranges exclude the delimiters: add one per field before this one.
    let column = record.range(index).map_or(1, |r| r.start + index + 1);
    let value = record.get(index).unwrap_or("");
    CliError::input(format!("{}:{line}:{column}: {what}: {value:?}", path.display()))
}

/// A CSV reader's own error (unequal row lengths, bad UTF-8, I/O), located where it can be.
pub fn csv_error(path: &Path, error: &csv::Error) -> CliError {
    match error.position() {
        Some(position) => {
            CliError::input(format!("{}:{}:1: {}", path.display(), position.line(), one_line(&error.to_string())))
        }
        None => CliError::input(format!("{}: {}", path.display(), io_reason(error))),
    }
}

pub fn io_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => one_line(&error.to_string()),
    }
}
