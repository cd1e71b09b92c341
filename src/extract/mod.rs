//! Extractors: the types a handler can take as arguments, and [`FromCall`] to make your own.
//!
//! A handler's arguments say what it needs: the context ([`Ctx`]), the validated payload
//! ([`Input`]), a [`Sender`], the caller's [`Rooms`] or [`ClientId`]. Your own extractors are
//! middleware: they can refuse a call or hand the handler a richer context.

mod ctx;
mod input;

pub use ctx::Ctx;
pub use input::Input;

use crate::typescript::Types;
use crate::{Call, CallError, ClientId, Rooms, Sender};
use std::future::Future;

/// Builds a handler argument from a call, or refuses the call.
///
/// Implement it to write middleware that runs before a handler: check permissions, load data,
/// and hand the handler a richer type. Reuse it on any route by taking it as an argument.
///
/// ```
/// use zocket::{Call, CallError, Ctx, FromCall};
///
/// struct User { id: String }
///
/// /// A caller who is an admin, with the context the handler needs.
/// struct Admin { user_id: String, is_admin: bool }
///
/// impl<O: Send + 'static> FromCall<User, O> for Admin {
///     async fn from_call(call: &Call<User, O>) -> Result<Self, CallError> {
///         let user = call.context();
///         if user.id != "root" {
///             return Err(CallError::forbidden("admins only"));
///         }
///         Ok(Admin { user_id: user.id.clone(), is_admin: true })
///     }
/// }
///
/// async fn secret(admin: Admin) -> &'static str {
///     assert!(admin.is_admin);
///     "top secret"
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument here",
    label = "not an extractor for this server's context and outgoing types",
    note = "handler arguments are extractors: Ctx<C>, Input<T> (T: Deserialize + Validate + TS), Sender<O>, Rooms, ClientId, or your own type implementing FromCall<C, O> (the context and outgoing types must match the router's)"
)]
pub trait FromCall<C, O>: Sized + Send {
    /// Whether this extractor reads the payload. Routes whose handlers read none refuse any
    /// payload other than absent or `null` before the handler runs, so an extractor that reads
    /// [`Call::payload`] (or calls [`Input::from_call`]) must set this to `true`.
    const READS_INPUT: bool = false;

    /// The TypeScript type of the payload this extractor reads, if it reads one and knows its
    /// type ([`Input<T>`] does). Used by [`typescript`](crate::typescript).
    #[doc(hidden)]
    fn describe_input(_types: &mut Types) -> Option<String> {
        None
    }

    /// Builds the argument, or refuses the call with an error the client receives.
    fn from_call(call: &Call<C, O>) -> impl Future<Output = Result<Self, CallError>> + Send;
}

impl<C: Send + Sync, O> FromCall<C, O> for ClientId {
    async fn from_call(call: &Call<C, O>) -> Result<Self, CallError> {
        Ok(call.client_id().clone())
    }
}

impl<C: Send + Sync, O: 'static> FromCall<C, O> for Sender<O> {
    async fn from_call(call: &Call<C, O>) -> Result<Self, CallError> {
        Ok(call.sender())
    }
}

impl<C: Send + Sync, O> FromCall<C, O> for Rooms {
    async fn from_call(call: &Call<C, O>) -> Result<Self, CallError> {
        Ok(call.rooms())
    }
}
