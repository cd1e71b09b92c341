//! Why a call failed: [`CallError`], which every handler error and extractor refusal becomes.

use std::fmt;
use zocket_protocol::{ErrorCode, ErrorPayload, Issue};

/// How much of a client's route name an error frame echoes back.
const MAX_ECHOED_ROUTE: usize = 256;

/// A failed call, sent to the client as `__rpc_err` (or `__error` when the message had no `rpcId`).
///
/// Handlers return it (or any `std::error::Error`, which becomes `INTERNAL` without leaking its
/// text), and extractors refuse with it.
///
/// ```
/// use zocket::{CallError, ErrorCode};
///
/// let refused = CallError::forbidden("admins only");
/// assert_eq!(refused.code(), ErrorCode::Forbidden);
///
/// // Any std error converts, so `?` works in handlers; its text stays in the server's logs.
/// let failed: CallError = "x".parse::<i32>().unwrap_err().into();
/// assert_eq!(failed.code(), ErrorCode::Internal);
/// assert_eq!(failed.message(), "Internal server error");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CallError {
    code: ErrorCode,
    message: String,
    issues: Vec<Issue>,
}

impl CallError {
    /// A failure with any code and a message the client will see.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            issues: Vec::new(),
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
        }
    }

    /// `INTERNAL`, with a fixed message: internals never reach the client.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Internal server error")
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

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("issues", &self.issues)
            .finish()
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Any error a handler returns with `?` becomes `INTERNAL`; its text is logged, never sent.
impl<E> From<E> for CallError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        tracing::error!(error = %error, "call failed");
        Self::internal()
    }
}
