//! [`State`]: application state given once when the server is built, and [`FromRef`] for the
//! parts of it a handler needs.

use crate::{Call, CallError, FromCall};
use std::ops::{Deref, DerefMut};

/// The application state, or a part of it (see [`FromRef`]), as a handler, extractor or hook
/// argument. Given once with [`Zocket::with_state`](crate::Zocket::with_state); each
/// extraction clones it, so keep it cheap to clone (an `Arc`, a pool handle).
///
/// ```
/// use std::sync::Arc;
/// use zocket::{FromRef, NoHeaders, NoOutgoing, State, Zocket};
///
/// #[derive(Clone)]
/// struct App { greeting: Arc<str>, db: Db }
///
/// #[derive(Clone)]
/// struct Db;
///
/// // A handler may take just the part it needs.
/// impl FromRef<App> for Db {
///     fn from_ref(app: &App) -> Db { app.db.clone() }
/// }
///
/// async fn greet(State(app): State<App>) -> String { app.greeting.to_string() }
/// async fn count(State(_db): State<Db>) -> u32 { 42 }
///
/// let zo = Zocket::<NoHeaders, NoOutgoing>::new()
///     .with_state(App { greeting: "hello".into(), db: Db });
/// let router = zo.router().route("greet", greet).route("count", count);
/// let server = zo.server(router);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for State<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// A part of the application state `S` that [`State`] can extract on its own: implement it
/// to let handlers take `State<Part>` instead of the whole state. Every `Clone` type is a part
/// of itself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken out of the application state `{S}`",
    note = "extract State<S> with the state type given to Zocket::with_state, or implement FromRef<{S}> for `{Self}`"
)]
pub trait FromRef<S> {
    /// Takes this part out of the state (usually a clone).
    fn from_ref(state: &S) -> Self;
}

impl<T: Clone> FromRef<T> for T {
    fn from_ref(state: &T) -> T {
        state.clone()
    }
}

impl<O, C, S, T> FromCall<O, C, S> for State<T>
where
    C: Send + Sync,
    S: Send + Sync,
    T: FromRef<S> + Send,
{
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(State(T::from_ref(call.state())))
    }
}
