//! [`IntoReply`]: what a handler may return.

use crate::{CallError, ClientId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use ts_rs::TS;

/// A handler's return value: the reply payload, or an error.
///
/// Implemented for `()` (a `null` reply), strings, numbers, `bool`, `Vec`, `Option`, maps and
/// sets, `serde_json::Value`, [`Json<T>`] for any serializable `T`, and `Result<T, E>` where `T`
/// is serializable and `E` converts into [`CallError`] (any `std::error::Error` does, as
/// `INTERNAL`).
///
/// The payload type implements [`TS`](trait@crate::TS) too, so that the route's reply type can
/// be exported to TypeScript clients (see [`typescript`](crate::typescript)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's reply",
    note = "return a serializable value (Serialize + TS) wrapped in zocket::Json, a primitive, or Result<T, E> where E: Into<CallError>"
)]
pub trait IntoReply {
    /// The payload type of a successful reply.
    type Ok: Serialize + TS + 'static;

    /// The payload, or the error the client receives.
    fn into_reply(self) -> Result<Self::Ok, CallError>;
}

/// A reply of any serializable type.
///
/// ```
/// use serde::Serialize;
/// use zocket::{Json, TS};
///
/// #[derive(Serialize, TS)]
/// struct Whoami { client_id: String }
///
/// async fn whoami() -> Json<Whoami> {
///     Json(Whoami { client_id: "c1".into() })
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Json<T>(pub T);

/// `T`'s type: the wrapper is transparent on the wire.
impl<T: TS> TS for Json<T> {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(cfg: &ts_rs::Config) -> String {
        T::name(cfg)
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        T::inline(cfg)
    }

    fn visit_dependencies(v: &mut impl ts_rs::TypeVisitor)
    where
        Self: 'static,
    {
        T::visit_dependencies(v);
    }

    fn visit_generics(v: &mut impl ts_rs::TypeVisitor)
    where
        Self: 'static,
    {
        T::visit_generics(v);
        v.visit::<T>();
    }
}

impl<T: Serialize + TS + 'static> IntoReply for Json<T> {
    type Ok = T;
    fn into_reply(self) -> Result<T, CallError> {
        Ok(self.0)
    }
}

impl<T: Serialize + TS + 'static, E: Into<CallError>> IntoReply for Result<T, E> {
    type Ok = T;
    fn into_reply(self) -> Result<T, CallError> {
        self.map_err(Into::into)
    }
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl IntoReply for $t {
            type Ok = Self;
            fn into_reply(self) -> Result<Self, CallError> {
                Ok(self)
            }
        }
    )*};
}

plain!((), bool, String, &'static str, char, ClientId, serde_json::Value);
plain!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

macro_rules! generic {
    ($($t:ident<$($p:ident),*>;)*) => {$(
        impl<$($p),*> IntoReply for $t<$($p),*> where $($p: Serialize + TS + 'static),* {
            type Ok = Self;
            fn into_reply(self) -> Result<Self, CallError> {
                Ok(self)
            }
        }
    )*};
}

generic! {
    Vec<T>;
    Option<T>;
    BTreeSet<T>;
    HashSet<T>;
    BTreeMap<K, V>;
    HashMap<K, V>;
}
