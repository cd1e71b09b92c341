//! [`IntoReply`]: what a handler may return, and [`Reply`]: the value layers see.

use crate::{CallError, ClientId};
use serde::Serialize;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use ts_rs::TS;
use zocket_protocol::{Codec, EncodeError};

/// A successful call's reply as a value, before it is encoded: what a layer (see
/// [`Router::layer`](crate::Router::layer)) gets from [`Next::run`](crate::Next::run) and may
/// inspect, keep or replace. Only the connection encodes it, once, in the codec the client
/// speaks, and only when the client waits for a reply.
///
/// ```
/// use zocket::Reply;
/// let reply = Reply::new(42u32);
/// assert_eq!(reply.downcast_ref::<u32>(), Some(&42));
/// assert_eq!(reply.to_json().unwrap(), serde_json::json!(42));
/// assert!(Reply::null().to_json().unwrap().is_null());
/// ```
pub struct Reply(Box<dyn Value>);

/// A reply value of any serializable type.
trait Value: Any + Send {
    fn write(&self, codec: Codec, out: &mut Vec<u8>, rpc_id: &[u8]) -> Result<(), EncodeError>;
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Serialize + Send + 'static> Value for T {
    fn write(&self, codec: Codec, out: &mut Vec<u8>, rpc_id: &[u8]) -> Result<(), EncodeError> {
        codec.write_reply(out, rpc_id, self)
    }

    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Reply {
    /// A reply holding `value`.
    pub fn new<T: Serialize + Send + 'static>(value: T) -> Self {
        // A zero-sized value, such as `()`, is boxed without allocating.
        Self(Box::new(value))
    }

    /// The `null` reply, what a handler returning `()` sends.
    pub fn null() -> Self {
        Self::new(())
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }

    /// The value as JSON, as a JSON client would receive it.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        self.0.to_json()
    }

    /// Appends the `__rpc_res` frame for call `rpc_id` to `out`.
    pub(crate) fn write(&self, codec: Codec, out: &mut Vec<u8>, rpc_id: &[u8]) -> Result<(), EncodeError> {
        self.0.write(codec, out, rpc_id)
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            Ok(json) => f.debug_tuple("Reply").field(&json).finish(),
            Err(_) => f.debug_tuple("Reply").finish_non_exhaustive(),
        }
    }
}

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
    type Ok: Serialize + TS + Send + 'static;

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

impl<T: Serialize + TS + Send + 'static> IntoReply for Json<T> {
    type Ok = T;
    fn into_reply(self) -> Result<T, CallError> {
        Ok(self.0)
    }
}

impl<T: Serialize + TS + Send + 'static, E: Into<CallError>> IntoReply for Result<T, E> {
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
        impl<$($p),*> IntoReply for $t<$($p),*> where $($p: Serialize + TS + Send + 'static),* {
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
