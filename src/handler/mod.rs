//! Handlers: plain async functions whose arguments are extractors and whose return value is
//! the call's reply.
//!
//! ```
//! use serde::Deserialize;
//! use garde::Validate;
//! use zocket::{ClientId, Input, TS};
//!
//! #[derive(Deserialize, Validate, TS)]
//! #[garde(allow_unvalidated)]
//! struct Greet { name: String }
//!
//! // No arguments, a reply of `null`.
//! async fn ping() {}
//! // The validated payload in, a string out.
//! async fn greet(Input(g): Input<Greet>) -> String { format!("Hello, {}!", g.name) }
//! // Several extractors, and a fallible reply.
//! async fn me(id: ClientId) -> Result<String, zocket::CallError> { Ok(id.to_string()) }
//! ```

mod reply;

pub use reply::{IntoReply, Json, Reply};

use crate::extract::FromInput;
use crate::typescript::{Signature, Types};
use crate::{Call, CallError, FromCall};
use std::future::Future;

/// An async function usable as a route: every argument implements [`FromCall`], the last may
/// instead read the payload ([`FromInput`]), and the output implements [`IntoReply`].
/// Implemented for functions of up to 8 arguments; `T` is a marker of the argument types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a zocket handler",
    label = "not a handler for this router",
    note = "a handler is an async fn whose arguments are extractors (Ctx<C>, State<T>, Sender<O>, Rooms, ClientId, or FromCall types for this router's outgoing, context and state types; the last may be Input<T> where T: Deserialize + Validate + TS) and whose output implements IntoReply (a reply type implements Serialize + TS)"
)]
pub trait Handler<T, O, C, S>: Clone + Send + Sync + Sized + 'static {
    /// Whether the handler reads the payload (its last argument is a [`FromInput`] type).
    #[doc(hidden)]
    const READS_INPUT: bool;

    /// The TypeScript types of the payload it reads and of its reply.
    #[doc(hidden)]
    fn describe(types: &mut Types) -> Signature;

    /// Runs the handler: its reply as a value, or the error the client receives.
    #[doc(hidden)]
    fn call(self, call: Call<O, C, S>) -> impl Future<Output = Result<Reply, CallError>> + Send;
}

impl<F, Fut, R, O, C, S> Handler<(), O, C, S> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
    R: IntoReply,
{
    const READS_INPUT: bool = false;

    fn describe(types: &mut Types) -> Signature {
        Signature::new(None, false, types.named::<R::Ok>())
    }

    // Not an `async fn`: the call is dropped at once instead of held (and required `Send`).
    #[allow(clippy::manual_async_fn)]
    fn call(self, _call: Call<O, C, S>) -> impl Future<Output = Result<Reply, CallError>> + Send {
        async move { self().await.into_reply().map(Reply::new) }
    }
}

macro_rules! impl_handler {
    ($($ty:ident),*; $last:ident) => {
        impl<F, Fut, R, O, C, S, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,), O, C, S> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send,
            R: IntoReply,
            O: 'static,
            C: Send + Sync + 'static,
            S: Send + Sync + 'static,
            $($ty: FromCall<O, C, S>,)*
            $last: FromInput<O, C, S, M>,
        {
            const READS_INPUT: bool = $last::READS_INPUT;

            fn describe(types: &mut Types) -> Signature {
                let input = $last::describe_input(types);
                Signature::new(input, $last::READS_INPUT, types.named::<R::Ok>())
            }

            #[allow(non_snake_case)]
            fn call(self, call: Call<O, C, S>) -> impl Future<Output = Result<Reply, CallError>> + Send {
                async move {
                    $(let $ty = $ty::from_call(&call).await?;)*
                    let $last = $last::from_payload(&call).await?;
                    self($($ty,)* $last).await.into_reply().map(Reply::new)
                }
            }
        }
    };
}

impl_handler!(; A1);
impl_handler!(A1; A2);
impl_handler!(A1, A2; A3);
impl_handler!(A1, A2, A3; A4);
impl_handler!(A1, A2, A3, A4; A5);
impl_handler!(A1, A2, A3, A4, A5; A6);
impl_handler!(A1, A2, A3, A4, A5, A6; A7);
impl_handler!(A1, A2, A3, A4, A5, A6, A7; A8);
