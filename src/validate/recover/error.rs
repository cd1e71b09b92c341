//! The error of the recovering deserializers: serde's message, where it happened, how to get past it.

use std::fmt;

use serde::de;
use zocket_protocol::{Issue, PathSegment};

use super::REQUIRED;
use super::fix::Remedy;
use super::path::Path;

/// The error of this module's deserializers (boxed, to keep results and stack frames small).
#[derive(Debug)]
pub(super) struct Error(pub(super) Box<Problem>);

/// What an [`Error`] knows: a message, and where it happened once known.
#[derive(Debug)]
pub(super) struct Problem {
    /// What went wrong.
    message: String,
    /// The field, for errors made by [`de::Error::missing_field`].
    missing: Option<&'static str>,
    /// Where it happened (for a missing field: the struct), set by the innermost deserializer
    /// that saw the error go by.
    pub(super) path: Option<Vec<PathSegment>>,
    /// How the next run may get past it.
    pub(super) remedy: Option<Remedy>,
}

impl Error {
    /// Places an error that has no place yet at `path`: a failed key will be skipped next time
    /// (`key`), a failed value replaced by a placeholder. A missing field found here was not
    /// reported by a struct of ours (it comes from a flattened struct or a tagged enum): final.
    pub(super) fn locate(mut self, path: &Path<'_>, key: bool) -> Self {
        let problem = &mut *self.0;
        if problem.path.is_none() {
            problem.path = Some(path.to_vec());
            problem.remedy = match (problem.missing, key) {
                (Some(_), _) => None,
                (None, true) => Some(Remedy::Skip),
                (None, false) => Some(Remedy::Placeholder),
            };
        }
        self
    }

    /// Places a missing-field error raised by the visitor of the struct at `path`.
    pub(super) fn missing_in(mut self, path: &Path<'_>) -> Self {
        let problem = &mut *self.0;
        if let (None, Some(field)) = (&problem.path, problem.missing) {
            problem.path = Some(path.to_vec());
            problem.remedy = Some(Remedy::Required(field));
        }
        self
    }

    /// The issue to report for this error.
    pub(super) fn to_issue(&self) -> Issue {
        let mut path = self.0.path.clone().unwrap_or_default();
        let message = match self.0.missing {
            Some(field) => {
                path.push(PathSegment::Key(field.to_owned()));
                REQUIRED.to_owned()
            }
            None => self.0.message.clone(),
        };
        Issue { path, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Error(Box::new(Problem {
            message: message.to_string(),
            missing: None,
            path: None,
            remedy: None,
        }))
    }

    fn missing_field(field: &'static str) -> Self {
        let mut error = Error::custom(format_args!("missing field `{field}`"));
        error.0.missing = Some(field);
        error
    }
}
