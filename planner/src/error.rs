//! What can go wrong in a sweep before any point runs: a parameter that does not fit the scenario
//! format. Each error names the parameter as written, so the caller can point at it in the file
//! (`[sweep.parameters]`) or on its command line (`--set`).

use sim::scenario::BadKeyPath;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The path does not parse.
    #[error(transparent)]
    Path(#[from] BadKeyPath),
    /// The path parses but cannot be set in the document (a missing list item, a scalar in the way).
    #[error("{parameter}: {message}")]
    Apply { parameter: String, message: String },
    /// The values a spec stands for are impossible (an empty list, a backwards range).
    #[error("{parameter}: {message}")]
    Values { parameter: String, message: String },
    /// With the point's values set, the document is not a scenario (unknown key, wrong type);
    /// `parameter` is the first value that breaks it on its own, when one does.
    #[error("{values}: {message}")]
    Format { parameter: Option<String>, values: String, message: String },
}

impl PlanError {
    /// The sweep parameter the error is about, as written.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            PlanError::Path(BadKeyPath(path)) => Some(path),
            PlanError::Apply { parameter, .. } | PlanError::Values { parameter, .. } => Some(parameter),
            PlanError::Format { parameter, .. } => parameter.as_deref(),
        }
    }
}
