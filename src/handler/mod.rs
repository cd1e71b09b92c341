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

pub use reply::{IntoReply, Json};

use crate::hub::Message;
use crate::typescript::{Signature, Types};
use crate::{Call, CallError, FromCall};
use std::future::Future;

/// An async function usable as a route: every argument implements [`FromCall`], the output
/// implements [`IntoReply`]. Implemented for functions of up to 8 arguments; `T` is a marker of
/// the argument types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a zocket handler",
    label = "not a handler for this router",
    note = "a handler is an async fn whose arguments are extractors (Ctx<C>, Input<T> where T: Deserialize + Validate + TS, Sender<O>, Rooms, ClientId, or FromCall types for this router's context and outgoing types) and whose output implements IntoReply (a reply type implements Serialize + TS)"
)]
pub trait Handler<T, C, O>: Clone + Send + Sync + Sized + 'static {
    /// Whether any argument reads the payload.
    #[doc(hidden)]
    const READS_INPUT: bool;

    /// The TypeScript types of the payload it reads and of its reply.
    #[doc(hidden)]
    fn describe(types: &mut Types) -> Signature;

    /// Runs the handler; the encoded reply frame when the client waits for one.
    #[doc(hidden)]
    fn call(self, call: Call<C, O>) -> impl Future<Output = Result<Option<Message>, CallError>> + Send;
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        impl<F, Fut, R, C, O, $($ty,)*> Handler<($($ty,)*), C, O> for F
        where
            F: FnOnce($($ty),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send,
            R: IntoReply,
            C: Send + Sync + 'static,
            O: 'static,
            $($ty: FromCall<C, O>,)*
        {
            const READS_INPUT: bool = false $(|| $ty::READS_INPUT)*;

            #[allow(unused_variables)]
            fn describe(types: &mut Types) -> Signature {
                let inputs: &[Option<String>] = &[$($ty::describe_input(types)),*];
                Signature::new(inputs, <Self as Handler<($($ty,)*), C, O>>::READS_INPUT, types.named::<R::Ok>())
            }

            #[allow(non_snake_case, unused_variables)]
            fn call(self, call: Call<C, O>) -> impl Future<Output = Result<Option<Message>, CallError>> + Send {
                async move {
                    $(let $ty = $ty::from_call(&call).await?;)*
                    let reply = self($($ty),*).await.into_reply()?;
                    call.encode_reply(&reply)
                }
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
impl_handler!(A1, A2, A3, A4, A5, A6, A7);
impl_handler!(A1, A2, A3, A4, A5, A6, A7, A8);
