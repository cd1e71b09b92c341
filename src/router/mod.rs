//! [`Router`]: route names bound to handlers, nested in namespaces, merged, wrapped in layers.

mod declared;
mod name;

pub use declared::{ReplyAs, RouteName, Serves};

use crate::handler::Handler;
use crate::middleware::{self, RunFn};
use crate::typescript::{Signature, Types};
use crate::{Call, CallError, Next, Reply};
use std::collections::BTreeMap;
use std::{fmt, future::Future, sync::Arc};

/// Describes a route's input and reply types for [`typescript`](crate::typescript).
pub(crate) type DescribeFn = fn(&mut Types) -> Signature;

/// One route's handler, type-erased.
pub(crate) struct Endpoint<O, C, S> {
    pub(crate) run: RunFn<O, C, S>,
    pub(crate) reads_input: bool,
    pub(crate) describe: DescribeFn,
}

impl<O, C, S> Clone for Endpoint<O, C, S> {
    fn clone(&self) -> Self {
        Self {
            run: self.run.clone(),
            reads_input: self.reads_input,
            describe: self.describe,
        }
    }
}

/// The incoming routes of a server: names like `"chat.message"` bound to handlers.
///
/// `O` is the outgoing messages, `C` the connection context, `S` the application state; every
/// handler of a router shares them. Building a router with a duplicate or malformed route name panics at once, pointing
/// at the call that did it.
///
/// ```
/// use zocket::{Router, Outgoing};
///
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.tick")]
///     Tick { n: u64 },
/// }
///
/// async fn ping() -> &'static str { "pong" }
/// async fn secret() -> &'static str { "top secret" }
///
/// let admin = Router::<Out>::new().route("secret", secret);
/// let router = Router::<Out>::new()
///     .route("ping", ping)
///     .nest("admin", admin);
/// assert_eq!(router.routes().collect::<Vec<_>>(), ["admin.secret", "ping"]);
/// ```
pub struct Router<O, C = (), S = ()> {
    routes: BTreeMap<String, Endpoint<O, C, S>>,
}

impl<O, C, S> Router<O, C, S>
where
    O: 'static,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    /// An empty router.
    pub fn new() -> Self {
        Self {
            routes: BTreeMap::new(),
        }
    }

    /// Binds `name` (dot-separated segments of letters, digits, `_` and `-`) to `handler`. The
    /// name is a string, or a declared route's `ROUTE` (`Add::ROUTE`), which only takes a
    /// handler that reads the declared input and returns the declared reply (see [`Route`](crate::Route)).
    #[track_caller]
    #[must_use]
    pub fn route<T: 'static, H: Handler<T, O, C, S>>(mut self, name: impl RouteName<T, H>, handler: H) -> Self {
        let name = name.name();
        name::check(name);
        let run: RunFn<O, C, S> = Arc::new(move |call| Box::pin(handler.clone().call(call)));
        let endpoint = Endpoint {
            run,
            reads_input: H::READS_INPUT,
            describe: H::describe,
        };
        self.insert(name.to_owned(), endpoint);
        self
    }

    /// Adds every route of `other` under the namespace `prefix` (`"admin"` + `"secret"` is
    /// `"admin.secret"`).
    #[track_caller]
    #[must_use]
    pub fn nest(mut self, prefix: &str, other: Router<O, C, S>) -> Self {
        name::check(prefix);
        for (name, endpoint) in other.routes {
            self.insert(format!("{prefix}.{name}"), endpoint);
        }
        self
    }

    /// Adds every route of `other` as it is.
    #[track_caller]
    #[must_use]
    pub fn merge(mut self, other: Router<O, C, S>) -> Self {
        for (name, endpoint) in other.routes {
            self.insert(name, endpoint);
        }
        self
    }

    /// Wraps every route added so far in `layer`, which runs around the handler: it sees the
    /// [`Call`], may refuse it by returning an error, calls [`Next::run`] to go on, and may
    /// inspect or replace the [`Reply`] it gets back. Layers added later wrap the earlier ones.
    ///
    /// ```
    /// use std::time::Instant;
    /// use zocket::{Call, CallError, Next, Reply, Router};
    ///
    /// async fn timed<O, C, S>(call: Call<O, C, S>, next: Next<O, C, S>) -> Result<Reply, CallError> {
    ///     let route = call.route().to_owned();
    ///     let started = Instant::now();
    ///     let result = next.run(call).await;
    ///     tracing::info!(%route, ok = result.is_ok(), took = ?started.elapsed());
    ///     result
    /// }
    ///
    /// async fn ping() {}
    /// let router = Router::<()>::new().route("ping", ping).layer(timed);
    /// ```
    #[must_use]
    pub fn layer<F, Fut>(mut self, layer: F) -> Self
    where
        F: Fn(Call<O, C, S>, Next<O, C, S>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, CallError>> + Send + 'static,
    {
        for endpoint in self.routes.values_mut() {
            endpoint.run = middleware::wrap(endpoint.run.clone(), layer.clone());
        }
        self
    }

    /// The route names, sorted.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    pub(crate) fn into_endpoints(self) -> impl Iterator<Item = (String, Endpoint<O, C, S>)> {
        self.routes.into_iter()
    }

    #[track_caller]
    fn insert(&mut self, name: String, endpoint: Endpoint<O, C, S>) {
        if self.routes.contains_key(&name) {
            panic!("zocket: the route \"{name}\" is defined twice");
        }
        self.routes.insert(name, endpoint);
    }
}

impl<O, C, S> Default for Router<O, C, S>
where
    O: 'static,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<O, C, S> fmt::Debug for Router<O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn noop() {}

    fn names(router: &Router<(), ()>) -> Vec<&str> {
        router.routes().collect()
    }

    #[test]
    fn nest_and_merge_compose_names() {
        let inner = Router::new().route("secret", noop).route("deep.er", noop);
        let other = Router::new().route("z", noop);
        let router = Router::<(), ()>::new()
            .route("a", noop)
            .nest("admin", inner)
            .merge(other);
        assert_eq!(names(&router), ["a", "admin.deep.er", "admin.secret", "z"]);
    }

    #[test]
    #[should_panic(expected = "the route \"greet\" is defined twice")]
    fn duplicate_routes_panic_when_built() {
        let _ = Router::<(), ()>::new().route("greet", noop).route("greet", noop);
    }

    #[test]
    #[should_panic(expected = "the route \"admin.x\" is defined twice")]
    fn duplicates_through_nesting_panic_too() {
        let _ = Router::<(), ()>::new()
            .route("admin.x", noop)
            .nest("admin", Router::new().route("x", noop));
    }

    #[test]
    #[should_panic(expected = "invalid route name \"__rpc_res\"")]
    fn reserved_names_panic() {
        let _ = Router::<(), ()>::new().route("__rpc_res", noop);
    }

    #[test]
    fn handlers_know_whether_they_read_input() {
        use crate::Input;
        #[derive(serde::Deserialize, garde::Validate, crate::TS)]
        #[garde(allow_unvalidated)]
        struct In {
            _x: u8,
        }
        async fn reads(Input(_): Input<In>) {}
        let router = Router::<(), ()>::new().route("reads", reads).route("none", noop);
        assert!(router.routes["reads"].reads_input);
        assert!(!router.routes["none"].reads_input);
    }
}
