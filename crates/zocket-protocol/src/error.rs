//! Error codes and the error payload carried by `__rpc_err` and `__error` frames.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a message failed. Serialized as the `SCREAMING_SNAKE_CASE` strings of the v1 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The frame is not a JSON object with a string `type`.
    BadRequest,
    /// No route has that name.
    NotFound,
    /// The payload fails the route's schema; `issues` lists every failing field.
    InvalidInput,
    /// A middleware refused the call.
    Forbidden,
    /// The handler failed or panicked. The message never carries internals.
    Internal,
    /// The message is larger than the connection's limit.
    PayloadTooLarge,
    /// The connection sends faster than its rate limit allows.
    RateLimited,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"NOT_FOUND"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidInput => "INVALID_INPUT",
            Self::Forbidden => "FORBIDDEN",
            Self::Internal => "INTERNAL",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a path into a payload: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        Self::Key(key.to_owned())
    }
}

impl From<String> for PathSegment {
    fn from(key: String) -> Self {
        Self::Key(key)
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        Self::Index(index)
    }
}

/// One failing field: where it is and what is wrong with it.
///
/// ```
/// use zocket_protocol::Issue;
/// let issue = Issue::new(["a"], "expected a number");
/// assert_eq!(serde_json::to_string(&issue).unwrap(), r#"{"path":["a"],"message":"expected a number"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Keys and indexes from the payload's root to the failing value; empty for the root itself.
    pub path: Vec<PathSegment>,
    /// What is wrong, for people.
    pub message: String,
}

impl Issue {
    /// An issue at `path` with `message`.
    pub fn new<P, S>(path: P, message: impl Into<String>) -> Self
    where
        P: IntoIterator<Item = S>,
        S: Into<PathSegment>,
    {
        Self {
            path: path.into_iter().map(Into::into).collect(),
            message: message.into(),
        }
    }
}

/// The payload of an `__rpc_err` or `__error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// The route the failed message named (only on `__error` frames, when it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Every failing field, for `INVALID_INPUT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
}
