//! [`Route`]: an incoming route declared once, for the server and its clients.

use std::fmt;
use std::marker::PhantomData;

/// A client-to-server route: its name, what a call sends and what its reply holds. Usually
/// derived on the input type:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use zocket_core::Route;
///
/// #[derive(Serialize, Deserialize, Route)]
/// #[zocket(route = "math.add", reply = f64)]
/// struct Add { a: f64, b: f64 }
///
/// #[derive(Serialize, Route)]
/// #[zocket(route = "whoami", reply = String)]
/// struct Whoami; // a unit struct: the route takes no input
///
/// #[derive(Serialize, Route)]
/// #[zocket(route = "chat.message")] // no `reply`: the reply is `()` (`null`)
/// struct ChatMessage { text: String }
///
/// fn reply_of<R: Route>(_: &R) -> &'static str { std::any::type_name::<R::Reply>() }
/// assert_eq!(Add::NAME, "math.add");
/// assert_eq!(reply_of(&Whoami), "alloc::string::String");
/// assert!(Add::HAS_INPUT && !Whoami::HAS_INPUT);
/// ```
///
/// A server registers a handler for it with `router.route(Add::ROUTE, handler)`, which compiles
/// only if the handler reads `Input<Add>` (or no input, for a route without one) and replies
/// with `f64`; a client calls it with `client.call(Add { a: 1.0, b: 2.0 })` and gets an `f64`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a declared route",
    label = "not a declared route",
    note = "declare it with #[derive(Route)] and #[zocket(route = \"a.b\", reply = ReplyType)] on the input type"
)]
pub trait Route: Sized + Send + Sync + 'static {
    /// The route's full name, e.g. `"math.add"`.
    const NAME: &'static str;

    /// Whether a call sends a payload. `false` for a route without input (a unit struct): the
    /// call's frame has no `payload`, and the server's handler reads none.
    const HAS_INPUT: bool = true;

    /// What the server's handler reads as `Input<Self::Input>`: `Self`, or `()` for a route
    /// without input.
    type Input: 'static;

    /// What a successful call replies with.
    type Reply: 'static;

    /// The route as a value, for `router.route(Add::ROUTE, handler)`: the server checks the
    /// handler against the declaration.
    const ROUTE: Declared<Self> = Declared(PhantomData);
}

/// A declared route as a value: [`Route::ROUTE`]. Its name is [`Route::NAME`].
pub struct Declared<R>(PhantomData<fn() -> R>);

impl<R: Route> Declared<R> {
    /// The route's full name.
    pub const fn name(&self) -> &'static str {
        R::NAME
    }
}

impl<R> Clone for Declared<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Declared<R> {}

impl<R: Route> fmt::Debug for Declared<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Declared({:?})", R::NAME)
    }
}
