//! [`Router`]: route names bound to handlers, nested in namespaces, merged, wrapped in layers.

mod name;

use crate::handler::Handler;
use crate::hub::Message;
use crate::middleware::{Next, Outcome};
use crate::typescript::{Signature, Types};
use crate::{Call, CallError};
use std::collections::BTreeMap;
use std::{fmt, future::Future, pin::Pin, sync::Arc};

pub(crate) type BoxReply = Pin<Box<dyn Future<Output = Result<Option<Message>, CallError>> + Send>>;
pub(crate) type RunFn<C, O> = Arc<dyn Fn(Call<C, O>) -> BoxReply + Send + Sync>;
/// Describes a route's input and reply types for [`typescript`](crate::typescript).
pub(crate) type DescribeFn = fn(&mut Types) -> Signature;

/// One route's handler, type-erased.
pub(crate) struct Endpoint<C, O> {
    pub(crate) run: RunFn<C, O>,
    pub(crate) reads_input: bool,
    pub(crate) describe: DescribeFn,
}

impl<C, O> Clone for Endpoint<C, O> {
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
/// `C` is the connection context, `O` the outgoing messages; every handler of a router shares
/// them. Building a router with a duplicate or malformed route name panics at once, pointing
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
/// let admin = Router::<(), Out>::new().route("secret", secret);
/// let router = Router::<(), Out>::new()
///     .route("ping", ping)
///     .nest("admin", admin);
/// assert_eq!(router.routes().collect::<Vec<_>>(), ["admin.secret", "ping"]);
/// ```
pub struct Router<C, O> {
    routes: BTreeMap<String, Endpoint<C, O>>,
}

impl<C, O> Router<C, O>
where
    C: Send + Sync + 'static,
    O: 'static,
{
    /// An empty router.
    pub fn new() -> Self {
        Self {
            routes: BTreeMap::new(),
        }
    }

    /// Binds `name` (dot-separated segments of letters, digits, `_` and `-`) to `handler`.
    #[track_caller]
    #[must_use]
    pub fn route<T: 'static, H: Handler<T, C, O>>(mut self, name: &str, handler: H) -> Self {
        name::check(name);
        let run: RunFn<C, O> = Arc::new(move |call| Box::pin(handler.clone().call(call)));
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
    pub fn nest(mut self, prefix: &str, other: Router<C, O>) -> Self {
        name::check(prefix);
        for (name, endpoint) in other.routes {
            self.insert(format!("{prefix}.{name}"), endpoint);
        }
        self
    }

    /// Adds every route of `other` as it is.
    #[track_caller]
    #[must_use]
    pub fn merge(mut self, other: Router<C, O>) -> Self {
        for (name, endpoint) in other.routes {
            self.insert(name, endpoint);
        }
        self
    }

    /// Wraps every route added so far in `layer`, which runs around the handler: it sees the
    /// [`Call`], may refuse it by returning an error [`Outcome`], and calls [`Next::run`] to go on.
    /// Layers added later wrap the earlier ones.
    ///
    /// ```
    /// use std::time::Instant;
    /// use zocket::{Call, Next, Router};
    ///
    /// async fn timed<C, O>(call: Call<C, O>, next: Next<C, O>) -> zocket::Outcome {
    ///     let route = call.route().to_owned();
    ///     let started = Instant::now();
    ///     let outcome = next.run(call).await;
    ///     tracing::info!(%route, ok = outcome.is_ok(), took = ?started.elapsed());
    ///     outcome
    /// }
    ///
    /// async fn ping() {}
    /// let router = Router::<(), ()>::new().route("ping", ping).layer(timed);
    /// ```
    #[must_use]
    pub fn layer<F, Fut>(mut self, layer: F) -> Self
    where
        F: Fn(Call<C, O>, Next<C, O>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        for endpoint in self.routes.values_mut() {
            let inner = endpoint.run.clone();
            let layer = layer.clone();
            endpoint.run = Arc::new(move |call| {
                let next = Next::new(inner.clone());
                let outcome = layer(call, next);
                Box::pin(async move { outcome.await.into_result() })
            });
        }
        self
    }

    /// The route names, sorted.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    pub(crate) fn into_endpoints(self) -> impl Iterator<Item = (String, Endpoint<C, O>)> {
        self.routes.into_iter()
    }

    #[track_caller]
    fn insert(&mut self, name: String, endpoint: Endpoint<C, O>) {
        if self.routes.contains_key(&name) {
            panic!("zocket: the route \"{name}\" is defined twice");
        }
        self.routes.insert(name, endpoint);
    }
}

impl<C, O> Default for Router<C, O>
where
    C: Send + Sync + 'static,
    O: 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<C, O> fmt::Debug for Router<C, O> {
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
