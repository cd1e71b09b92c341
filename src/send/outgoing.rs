//! The set of messages a server may send: a type, never strings in user code.

use crate::typescript::Types;
use std::borrow::Cow;

/// A closed set of server-to-client messages, usually an enum deriving [`Outgoing`](derive@crate::Outgoing).
/// Every payload implements [`TS`](trait@crate::TS), so clients get its TypeScript type (see
/// [`typescript`](crate::typescript)).
///
/// Each value names its route and serializes its payload. A [`Sender<O>`](crate::Sender) only
/// accepts `O` (or a type converting into it), so sending a message that was not declared does
/// not compile.
///
/// ```
/// use zocket::{Outgoing, TS};
/// use serde::Serialize;
///
/// #[derive(Serialize, TS)]
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
    fn serialize_payload<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Every route this type declares, in declaration order.
    fn routes() -> Vec<Cow<'static, str>>
    where
        Self: Sized;

    /// Records each route, under `prefix`, with its payload's TypeScript type. The derive
    /// describes every payload; this default, for hand-written impls, says `unknown`.
    #[doc(hidden)]
    fn describe(types: &mut Types, prefix: &str)
    where
        Self: Sized,
    {
        for route in Self::routes() {
            types.outgoing(format!("{prefix}{route}"), "unknown".to_owned());
        }
    }
}

/// Serializes an [`Outgoing`] value as its payload alone.
pub(crate) struct PayloadOf<'a, O>(pub(crate) &'a O);

impl<O: Outgoing> serde::Serialize for PayloadOf<'_, O> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}
