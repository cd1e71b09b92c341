//! Why a call failed: [`CallError`], which every handler error and extractor refusal becomes.

use std::error::Error;
use std::{fmt, sync::Arc};
use zocket_protocol::{ErrorCode, ErrorPayload, Issue};

/// How much of a client's route name an error frame echoes back.
const MAX_ECHOED_ROUTE: usize = 256;

/// A failed call, sent to the client as `__rpc_err` (or `__error` when the message had no `rpcId`).
///
/// Handlers return it and extractors refuse with it. It is an [`std::error::Error`]; an internal
/// failure keeps its cause as the [`source`](Error::source), which the server logs when it
/// answers the client with `INTERNAL` (the client never sees the cause's text).
///
/// `?` converts I/O, JSON, send and task errors, boxed errors, and (with the `anyhow` feature)
/// `anyhow::Error`; any other error converts with [`CallError::internal_from`], or with a
/// `From` impl of your own for your error type.
///
/// ```
/// use zocket::{CallError, ErrorCode};
///
/// let refused = CallError::forbidden("admins only");
/// assert_eq!(refused.code(), ErrorCode::Forbidden);
///
/// fn load() -> std::io::Result<String> {
///     Err(std::io::Error::other("disk on fire"))
/// }
/// fn handler() -> Result<String, CallError> {
///     let text = load()?; // INTERNAL for the client, the cause kept for the logs
///     Ok(text)
/// }
/// let failed = handler().unwrap_err();
/// assert_eq!(failed.code(), ErrorCode::Internal);
/// assert_eq!(failed.message(), "Internal server error");
/// assert_eq!(std::error::Error::source(&failed).unwrap().to_string(), "disk on fire");
///
/// let parsed = "x".parse::<i32>().map_err(CallError::internal_from);
/// assert_eq!(parsed.unwrap_err().code(), ErrorCode::Internal);
/// ```
#[derive(Clone)]
pub struct CallError {
    code: ErrorCode,
    message: String,
    issues: Vec<Issue>,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl CallError {
    /// A failure with any code and a message the client will see.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            issues: Vec::new(),
            source: None,
        }
    }

    /// `FORBIDDEN`: a middleware or handler refuses the caller.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `INVALID_INPUT` with one entry for every failing field.
    pub fn invalid_input(issues: Vec<Issue>) -> Self {
        Self {
            code: ErrorCode::InvalidInput,
            message: "Invalid input".to_owned(),
            issues,
            source: None,
        }
    }

    /// `INTERNAL`, with a fixed message: internals never reach the client.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Internal server error")
    }

    /// `INTERNAL`, keeping `cause` as the [`source`](Error::source) for the server's logs.
    pub fn internal_from(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            source: Some(Arc::from(cause.into())),
            ..Self::internal()
        }
    }

    /// `NOT_FOUND` for an unknown route (the route itself goes in the error frame's `route`).
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "No such route")
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failing fields (for `INVALID_INPUT`).
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The error frame's payload. `route` is the client's own text, so at most
    /// [`MAX_ECHOED_ROUTE`] bytes of it are echoed back.
    pub(crate) fn into_payload(self, route: Option<&str>) -> ErrorPayload {
        let route = route.map(|route| {
            let mut end = route.len().min(MAX_ECHOED_ROUTE);
            while !route.is_char_boundary(end) {
                end -= 1;
            }
            route[..end].to_owned()
        });
        ErrorPayload {
            code: self.code,
            message: self.message,
            route,
            issues: self.issues,
        }
    }
}

/// Two errors are equal when the client would receive the same: code, message and issues.
impl PartialEq for CallError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message && self.issues == other.issues
    }
}

impl Eq for CallError {}

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("issues", &self.issues)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Error for CallError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn Error + 'static))
    }
}

macro_rules! internal_from {
    ($($(#[$meta:meta])* $t:ty),* $(,)?) => {$(
        $(#[$meta])*
        impl From<$t> for CallError {
            fn from(error: $t) -> Self {
                Self::internal_from(error)
            }
        }
    )*};
}

internal_from! {
    /// `INTERNAL`, the I/O error kept as the cause.
    std::io::Error,
    /// `INTERNAL`, the JSON error kept as the cause.
    serde_json::Error,
    /// `INTERNAL`: a message could not be serialized.
    crate::EmitError,
    /// `INTERNAL`: a spawned task failed or panicked.
    tokio::task::JoinError,
    /// `INTERNAL`, the boxed error kept as the cause.
    Box<dyn Error + Send + Sync>,
}

/// `INTERNAL`, the `anyhow` error kept as the cause.
#[cfg(feature = "anyhow")]
impl From<anyhow::Error> for CallError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal_from(error)
    }
}
