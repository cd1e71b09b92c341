//! [`Outgoing`]: the closed set of messages a server may send, and its decoding on the client
//! side ([`DecodeOutgoing`]).

use serde::{Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use ts_rs::TS;

/// A closed set of server-to-client messages, usually an enum deriving
/// [`Outgoing`](derive@crate::Outgoing). Every payload implements [`TS`], so clients get its
/// TypeScript type.
///
/// Each value names its route and serializes its payload. A server's `Sender<O>` only accepts
/// `O` (or a type converting into it), so sending a message that was not declared does not
/// compile. The derive also implements [`DecodeOutgoing`], with which a client turns a route
/// and a payload back into the message.
///
/// ```
/// use serde::Serialize;
/// use zocket_core::Outgoing;
///
/// #[derive(Serialize, ts_rs::TS)]
/// struct Announcement { text: String }
///
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.announcement")]
///     Announcement(Announcement),
///     #[zocket(route = "chat.onMessage")]
///     ChatMessage { text: String, from: String },
/// }
///
/// let out = Out::from(Announcement { text: "hi".into() });
/// assert_eq!(out.route(), "system.announcement");
/// assert_eq!(Out::routes(), ["system.announcement", "chat.onMessage"]);
/// ```
pub trait Outgoing: Send + Sync + 'static {
    /// The route this message is sent on, e.g. `"system.announcement"`.
    fn route(&self) -> Cow<'static, str>;

    /// Serializes only the payload: what goes in the frame's `payload` field.
    fn serialize_payload<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Every route this type declares, in declaration order.
    fn routes() -> Vec<Cow<'static, str>>
    where
        Self: Sized;

    /// Records each route, under `prefix`, with its payload's TypeScript type. The derive
    /// describes every payload; this default, for hand-written impls, says `unknown`.
    #[doc(hidden)]
    fn describe<D: Describe>(types: &mut D, prefix: &str)
    where
        Self: Sized,
    {
        for route in Self::routes() {
            types.outgoing(format!("{prefix}{route}"), "unknown".to_owned());
        }
    }
}

/// Where [`Outgoing::describe`] records routes and TypeScript types (the server's TypeScript
/// export implements it).
#[doc(hidden)]
pub trait Describe {
    /// `T`'s name in TypeScript, declaring every named type it refers to.
    fn named<T: TS + ?Sized + 'static>(&mut self) -> String;
    /// `T`'s definition written out, declaring every named type it refers to.
    fn inline<T: TS + ?Sized + 'static>(&mut self) -> String;
    /// Records an outgoing route and its payload's type.
    fn outgoing(&mut self, route: String, payload: String);
}

/// Turns a route and its payload back into the message: what a client does with each event
/// frame. Derived with [`Outgoing`](derive@crate::Outgoing) for every enum whose payloads
/// implement `Deserialize` (an enum whose payloads only serialize still derives `Outgoing`; it
/// just does not implement this trait).
///
/// ```
/// use zocket_core::{DecodeOutgoing, Outgoing};
///
/// #[derive(Debug, PartialEq, Outgoing)]
/// enum Chat {
///     #[zocket(route = "message")]
///     #[serde(rename_all = "camelCase")]
///     Message { text: String, sent_by: String },
/// }
///
/// #[derive(Debug, PartialEq, Outgoing)]
/// enum Out {
///     #[zocket(route = "system.shutdown")]
///     Shutdown,
///     #[zocket(nest = "chat")]
///     Chat(Chat),
/// }
///
/// let mut payload = serde_json::Deserializer::from_str(r#"{"text":"hi","sentBy":"ada"}"#);
/// let message = Out::decode("chat.message", &mut payload).unwrap().unwrap();
/// assert_eq!(message, Out::Chat(Chat::Message { text: "hi".into(), sent_by: "ada".into() }));
/// assert!(Out::decode("chat.nope", &mut serde_json::Deserializer::from_str("1")).is_none());
/// ```
pub trait DecodeOutgoing<'de>: Sized {
    /// The message on `route` whose payload `payload` holds; `None` if `route` is not one of
    /// this type's routes, an error if the payload does not have the route's type.
    fn decode<D: Deserializer<'de>>(route: &str, payload: D) -> Option<Result<Self, D::Error>>;

    /// Whether `route` is one of this type's routes.
    fn has_route(route: &str) -> bool;
}

/// Serializes an [`Outgoing`] value as its payload alone.
///
/// ```
/// use zocket_core::{Outgoing, PayloadOf};
///
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.tick")]
///     Tick { n: i64 },
/// }
///
/// let json = serde_json::to_string(&PayloadOf(&Out::Tick { n: 3 })).unwrap();
/// assert_eq!(json, r#"{"n":3}"#);
/// ```
#[derive(Debug)]
pub struct PayloadOf<'a, O>(pub &'a O);

impl<O: Outgoing> Serialize for PayloadOf<'_, O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}
