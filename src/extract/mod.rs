//! Extractors: the types a handler can take as arguments, [`FromCall`] to make your own, and
//! [`FromInput`] for the one argument that reads the payload.
//!
//! A handler's arguments say what it needs: the context ([`Ctx`]), the validated payload
//! ([`Input`]), the application [`State`](crate::State), a [`Sender`], the caller's [`Rooms`]
//! or [`ClientId`]. Your own extractors are middleware: they can refuse a call or hand the
//! handler a richer context.
//!
//! Whether a route reads its payload is decided by its handler's argument types: only the last
//! argument may read it, through [`FromInput`] (as [`Input`] does), and a route whose handler
//! has no such argument refuses any payload but absent or `null`.

mod ctx;
mod input;

pub use ctx::Ctx;
pub use input::Input;

use crate::typescript::Types;
use crate::{Call, CallError, ClientId, Rooms, Sender};
use std::future::Future;

/// Builds a handler argument from a call, or refuses the call. It cannot see the payload: an
/// extractor that reads it implements [`FromInput`] instead.
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
/// impl<O, S: Send + Sync> FromCall<O, User, S> for Admin {
///     async fn from_call(call: &Call<O, User, S>) -> Result<Self, CallError> {
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
    label = "not an extractor for this server's outgoing, context and state types",
    note = "handler arguments are extractors: Ctx<C>, State<T>, Sender<O>, Rooms, ClientId, your own type implementing FromCall<O, C, S>, and as the last argument Input<T> (T: Deserialize + Validate + TS) or another FromInput type; the outgoing, context and state types must match the router's"
)]
pub trait FromCall<O, C, S>: Sized + Send {
    /// Builds the argument, or refuses the call with an error the client receives.
    fn from_call(call: &Call<O, C, S>) -> impl Future<Output = Result<Self, CallError>> + Send;
}

/// Builds a handler's last argument from a call and its payload (as [`Input`] does), or
/// refuses the call. A route reads its payload exactly when its handler's last argument
/// implements this trait directly; every [`FromCall`] type implements it too, reading nothing.
///
/// `M` tells the two kinds apart; leave it at its default when you implement this trait.
///
/// ```
/// use zocket::{Call, CallError, FromInput};
///
/// /// The payload's size, whatever it holds.
/// struct Size(usize);
///
/// impl<O, C: Send + Sync, S: Send + Sync> FromInput<O, C, S> for Size {
///     async fn from_input(_call: &Call<O, C, S>, payload: Option<&[u8]>) -> Result<Self, CallError> {
///         Ok(Size(payload.map_or(0, <[u8]>::len)))
///     }
/// }
///
/// async fn size(Size(n): Size) -> usize { n }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's last argument here",
    label = "not an extractor for this server's outgoing, context and state types",
    note = "a handler's last argument implements FromInput<O, C, S> (Input<T> with T: Deserialize + Validate + TS) or FromCall<O, C, S> (Ctx<C>, State<T>, Sender<O>, Rooms, ClientId, ...)"
)]
pub trait FromInput<O, C, S, M = crate::__private::ViaInput>: Sized + Send {
    /// Whether this extractor reads the payload: fixed by which trait the type implements.
    #[doc(hidden)]
    const READS_INPUT: bool = true;

    /// The TypeScript type of the payload this extractor reads, if it knows it ([`Input<T>`]
    /// does). Used by [`typescript`](crate::typescript).
    #[doc(hidden)]
    fn describe_input(_types: &mut Types) -> Option<String> {
        None
    }

    /// Builds the argument from the call and its payload (JSON bytes; `None` when absent or
    /// `null`), or refuses the call with an error the client receives.
    fn from_input(call: &Call<O, C, S>, payload: Option<&[u8]>)
    -> impl Future<Output = Result<Self, CallError>> + Send;

    /// What a handler calls: [`from_input`](Self::from_input) with the payload as JSON (a
    /// MessagePack payload converted first). [`Input`] reads MessagePack without converting.
    #[doc(hidden)]
    fn from_payload(call: &Call<O, C, S>) -> impl Future<Output = Result<Self, CallError>> + Send
    where
        C: Send + Sync,
        S: Send + Sync,
    {
        async move {
            let payload = call.json_payload()?;
            Self::from_input(call, payload.as_deref()).await
        }
    }
}

impl<O, C, S, T> FromInput<O, C, S, crate::__private::ViaCall> for T
where
    T: FromCall<O, C, S>,
    C: Send + Sync,
    S: Send + Sync,
{
    const READS_INPUT: bool = false;

    fn from_input(
        call: &Call<O, C, S>,
        _payload: Option<&[u8]>,
    ) -> impl Future<Output = Result<Self, CallError>> + Send {
        T::from_call(call)
    }
}

impl<O, C: Send + Sync, S: Send + Sync> FromCall<O, C, S> for ClientId {
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(call.client_id().clone())
    }
}

impl<O: 'static, C: Send + Sync, S: Send + Sync> FromCall<O, C, S> for Sender<O> {
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(call.sender())
    }
}

impl<O, C: Send + Sync, S: Send + Sync> FromCall<O, C, S> for Rooms {
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(call.rooms())
    }
}
