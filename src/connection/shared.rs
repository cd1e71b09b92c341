//! [`Shared`]: everything the connections of one server share.

use crate::call::App;
use crate::hooks::{OnConnect, OnDisconnect, OnMove};
use crate::lifecycle::Lifecycle;
use crate::router::Endpoint;
use crate::{Config, Handle};
use std::{collections::HashMap, sync::Arc};

/// A route in the table the connections dispatch on.
pub(crate) struct Route<O, C, S> {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint: Endpoint<O, C, S>,
    /// Its calls, counted by outcome.
    pub(crate) metrics: Arc<crate::metrics::RouteMetrics>,
}

/// Everything the connections of one server share.
pub(crate) struct Shared<H, O, C, S> {
    pub(crate) app: Arc<App<S>>,
    pub(crate) routes: HashMap<Box<str>, Route<O, C, S>>,
    pub(crate) on_connect: OnConnect<H, C, S>,
    pub(crate) on_disconnect: Option<OnDisconnect<O, C, S>>,
    /// Told of sessions that moved to or from this node.
    pub(crate) on_move: Option<OnMove<O, C, S>>,
    pub(crate) config: Config,
    pub(crate) lifecycle: Lifecycle,
    /// The sessions that can be resumed, if resume is on.
    pub(crate) sessions: Option<super::Sessions<C>>,
}

impl<H, O, C, S> Shared<H, O, C, S> {
    /// A handle on this server.
    pub(crate) fn handle(&self) -> Handle<O> {
        Handle::new(self.app.hub.clone(), self.lifecycle.clone())
    }
}
