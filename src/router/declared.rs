//! Handlers for declared routes: `router.route(Add::ROUTE, add)` compiles only when `add` reads
//! the route's declared input (`Input<Add>`, or no input for a route without one) and returns
//! its declared reply. A string name (`route("math.add", add)`) takes any handler.
//!
//! ```
//! use garde::Validate;
//! use serde::{Deserialize, Serialize};
//! use zocket::{Input, NoOutgoing, Route, Router, TS};
//!
//! #[derive(Serialize, Deserialize, Validate, TS, Route)]
//! #[zocket(route = "math.add", reply = f64)]
//! #[garde(allow_unvalidated)]
//! struct Add { a: f64, b: f64 }
//!
//! #[derive(Serialize, Route)]
//! #[zocket(route = "ping", reply = String)]
//! struct Ping;
//!
//! async fn add(Input(sum): Input<Add>) -> f64 { sum.a + sum.b }
//! async fn ping() -> &'static str { "pong" }
//!
//! let router = Router::<(), NoOutgoing>::new()
//!     .route(Add::ROUTE, add)
//!     .route(Ping::ROUTE, ping);
//! assert_eq!(router.routes().collect::<Vec<_>>(), ["math.add", "ping"]);
//! ```
//!
//! The handler's types are checked: its last argument is `Input<R::Input>` (for a route without
//! input: it reads no payload at all), and its reply type (`IntoReply::Ok`) is `R::Reply`, or
//! `&'static str` for a declared `String`. Declared names are full names: nesting a router
//! puts its prefix in front of them too.

use crate::__private::{ViaCall, ViaInput};
use crate::Input;
use crate::handler::IntoReply;
use std::future::Future;
use zocket_core::{Declared, Route};

/// A route's name for [`Router::route`](crate::Router::route): a string (any handler), or a
/// declared route's [`Route::ROUTE`] (a handler that matches the declaration). `T` is the
/// handler's marker of its argument types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name a route for this handler",
    label = "the handler does not match this route",
    note = "a route is named by a string (\"math.add\") or by a declared route (`Add::ROUTE`, from #[derive(Route)]); for a declared route, the handler's last argument is `Input<Add>` (no `Input` for a route without input) and it returns the declared reply"
)]
pub trait RouteName<T, H> {
    /// The route's full name.
    #[doc(hidden)]
    fn name(&self) -> &str;
}

impl<T, H> RouteName<T, H> for &str {
    fn name(&self) -> &str {
        self
    }
}

impl<T, H> RouteName<T, H> for String {
    fn name(&self) -> &str {
        self
    }
}

impl<T, H> RouteName<T, H> for &String {
    fn name(&self) -> &str {
        self
    }
}

impl<R, T, H> RouteName<T, H> for Declared<R>
where
    R: Route,
    H: Serves<R, T>,
{
    fn name(&self) -> &str {
        R::NAME
    }
}

/// A handler that serves the declared route `R`: its last argument is `Input<R::Input>` or,
/// for a route without input, it reads no payload; its reply is `R::Reply`. `T` is the
/// handler's marker of its argument types (as in [`Handler`](crate::Handler)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not serve the declared route `{R}`",
    label = "its input or reply differs from the declaration of `{R}`",
    note = "a handler for a declared route takes `Input<{R}>` as its last argument (a route declared on a unit struct: no `Input` at all) and returns the declared `reply` type (as is, in `Json<..>`, or in `Result<.., E>`)"
)]
pub trait Serves<R, T> {}

/// A handler reply type that a client reads as `D`: `D` itself, or `&'static str` for `String`.
#[diagnostic::on_unimplemented(
    message = "the handler replies `{Self}`, but the route declares `reply = {D}`",
    label = "not the declared reply",
    note = "return the declared reply type (as is, in `Json<..>`, or in `Result<.., E>`), or change `reply = ..` in the route's #[zocket(...)]"
)]
pub trait ReplyAs<D> {}

impl<T> ReplyAs<T> for T {}
impl ReplyAs<String> for &'static str {}

// A route without input, and a handler without arguments.
impl<R, F, Fut> Serves<R, ()> for F
where
    R: Route<Input = ()>,
    F: FnOnce() -> Fut,
    Fut: Future,
    Fut::Output: IntoReply,
    <Fut::Output as IntoReply>::Ok: ReplyAs<R::Reply>,
{
}

macro_rules! serves {
    ($($a:ident)*; $last:ident) => {
        // A route with input: the handler's last argument is `Input<R::Input>`.
        impl<R, F, Fut, $($a,)*> Serves<R, (ViaInput, $($a,)* Input<R::Input>,)> for F
        where
            R: Route,
            F: FnOnce($($a,)* Input<R::Input>) -> Fut,
            Fut: Future,
            Fut::Output: IntoReply,
            <Fut::Output as IntoReply>::Ok: ReplyAs<R::Reply>,
        {
        }

        // A route without input: the handler's last argument reads no payload.
        impl<R, F, Fut, $($a,)* $last> Serves<R, (ViaCall, $($a,)* $last,)> for F
        where
            R: Route<Input = ()>,
            F: FnOnce($($a,)* $last) -> Fut,
            Fut: Future,
            Fut::Output: IntoReply,
            <Fut::Output as IntoReply>::Ok: ReplyAs<R::Reply>,
        {
        }
    };
}

serves!(; A1);
serves!(A1; A2);
serves!(A1 A2; A3);
serves!(A1 A2 A3; A4);
serves!(A1 A2 A3 A4; A5);
serves!(A1 A2 A3 A4 A5; A6);
serves!(A1 A2 A3 A4 A5 A6; A7);
serves!(A1 A2 A3 A4 A5 A6 A7; A8);

#[cfg(test)]
mod tests {
    use crate::{Ctx, Input, Route, Router};

    #[derive(serde::Serialize, serde::Deserialize, garde::Validate, crate::TS, Route)]
    #[zocket(route = "math.add", reply = f64)]
    #[garde(allow_unvalidated)]
    struct Add {
        a: f64,
        b: f64,
    }

    #[derive(serde::Serialize, Route)]
    #[zocket(route = "who", reply = String)]
    struct Who;

    #[derive(serde::Serialize, Route)]
    #[zocket(route = "ping", reply = String)]
    struct Ping;

    async fn add(_ctx: Ctx<()>, _id: crate::ClientId, Input(sum): Input<Add>) -> f64 {
        sum.a + sum.b
    }

    async fn who(_id: crate::ClientId) -> Result<String, crate::CallError> {
        Ok("me".into())
    }

    async fn ping() -> &'static str {
        "pong"
    }

    #[test]
    fn declared_routes_take_matching_handlers_and_strings_take_any() {
        let router = Router::<()>::new()
            .route(Add::ROUTE, add)
            .route(Who::ROUTE, who)
            .route(Ping::ROUTE, ping)
            .route("plain", || async {})
            .route(String::from("owned"), ping);
        assert_eq!(
            router.routes().collect::<Vec<_>>(),
            ["math.add", "owned", "ping", "plain", "who"]
        );
        assert_eq!(Add::ROUTE.name(), "math.add");
    }
}
