//! Layers: code that runs around every call of a router (logging, timing, metrics, refusals,
//! rewriting replies).
//!
//! Per-route middleware that refuses calls or enriches the context is an extractor: see
//! [`FromCall`](crate::FromCall). A layer is the cross-cutting kind: see
//! [`Router::layer`](crate::Router::layer). Layers deal in values: a [`Reply`] or a
//! [`CallError`]; only the connection encodes what they return.

use crate::{Call, CallError, Reply};
use std::{fmt, future::Future, pin::Pin, sync::Arc};

/// A call's result on its way back through the layers.
pub(crate) type BoxReply = Pin<Box<dyn Future<Output = Result<Reply, CallError>> + Send>>;

/// A route's handler, with the layers around it, type-erased.
pub(crate) type RunFn<O, C, S> = Arc<dyn Fn(Call<O, C, S>) -> BoxReply + Send + Sync>;

/// The rest of the chain: the next layer, or the handler.
pub struct Next<O, C = (), S = ()> {
    inner: RunFn<O, C, S>,
}

impl<O, C, S> Next<O, C, S> {
    pub(crate) fn new(inner: RunFn<O, C, S>) -> Self {
        Self { inner }
    }

    /// Runs the rest of the chain for `call`: the reply as a value, or the error the client
    /// will receive. A layer may return either as it is, or another in its place.
    pub fn run(self, call: Call<O, C, S>) -> impl Future<Output = Result<Reply, CallError>> + Send + use<O, C, S> {
        (self.inner)(call)
    }
}

impl<O, C, S> fmt::Debug for Next<O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

/// Wraps `inner` in `layer`.
pub(crate) fn wrap<O, C, S, F, Fut>(inner: RunFn<O, C, S>, layer: F) -> RunFn<O, C, S>
where
    O: 'static,
    C: 'static,
    S: 'static,
    F: Fn(Call<O, C, S>, Next<O, C, S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, CallError>> + Send + 'static,
{
    Arc::new(move |call| Box::pin(layer(call, Next::new(inner.clone()))))
}
