//! Layers: code that runs around every call of a router (logging, timing, metrics, refusals).
//!
//! Per-route middleware that refuses calls or enriches the context is an extractor: see
//! [`FromCall`](crate::FromCall). A layer is the cross-cutting kind: see [`Router::layer`](crate::Router::layer).

use crate::hub::Message;
use crate::router::RunFn;
use crate::{Call, CallError};
use std::fmt;

/// The rest of the chain: the next layer, or the handler.
pub struct Next<C, O> {
    inner: RunFn<C, O>,
}

impl<C, O> Next<C, O> {
    pub(crate) fn new(inner: RunFn<C, O>) -> Self {
        Self { inner }
    }

    /// Runs the rest of the chain for `call`.
    pub async fn run(self, call: Call<C, O>) -> Outcome {
        Outcome((self.inner)(call).await)
    }
}

impl<C, O> fmt::Debug for Next<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

/// How a call ended: its encoded reply, or the error the client receives.
///
/// A layer can refuse a call without running the handler: `return CallError::forbidden("..").into()`.
#[derive(Debug)]
pub struct Outcome(Result<Option<Message>, CallError>);

impl Outcome {
    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.0.is_ok()
    }

    /// The error, when it failed.
    pub fn error(&self) -> Option<&CallError> {
        self.0.as_ref().err()
    }

    pub(crate) fn into_result(self) -> Result<Option<Message>, CallError> {
        self.0
    }
}

impl From<CallError> for Outcome {
    fn from(error: CallError) -> Self {
        Self(Err(error))
    }
}
