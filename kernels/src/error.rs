//! The crate's one error type: what went wrong, by kind, with a message for the user.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// An operator written as (name, shape, dtype) that does not describe one.
    #[error("{0}")]
    Shape(String),
    /// A measurement backend cannot measure: no driver, an unsupported dtype, a failed call, a
    /// result that disagrees with the CPU reference.
    #[error("{0}")]
    Backend(String),
    /// A profile that can neither measure, interpolate nor fit a roofline for an operator.
    #[error("{0}")]
    Unpredictable(String),
    /// Published figures that name a model or device the catalog lacks.
    #[error("{0}")]
    Catalog(String),
}
