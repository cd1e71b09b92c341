//! [`Call`]: one incoming message on its way to a handler.

use crate::hub::Hub;
use crate::{CallError, ClientId, Issue, PathSegment, Rooms, Sender};
use bytes::Bytes;
use std::borrow::Cow;
use std::{fmt, marker::PhantomData, sync::Arc};
use zocket_protocol::Codec;

/// The connection a call came from: its id and the context `on_connect` built.
#[derive(Debug)]
pub(crate) struct Conn<C> {
    pub(crate) id: ClientId,
    pub(crate) ctx: C,
}

/// What every call of one server shares: the hub and the application state.
#[derive(Debug)]
pub(crate) struct App<S> {
    pub(crate) hub: Arc<Hub>,
    pub(crate) state: S,
}

/// One message from a client, as extractors and layers see it.
///
/// `O` is the server's outgoing messages, `C` the connection context built by `on_connect`, `S`
/// the application state.
pub struct Call<O, C = (), S = ()> {
    pub(crate) conn: Arc<Conn<C>>,
    pub(crate) app: Arc<App<S>>,
    pub(crate) route: Arc<str>,
    /// The payload as the client sent it, in the connection's codec.
    pub(crate) payload: Option<Bytes>,
    pub(crate) expects_reply: bool,
    pub(crate) codec: Codec,
    pub(crate) _out: PhantomData<fn() -> O>,
}

impl<O, C, S> Call<O, C, S> {
    /// The route the message names, e.g. `"chat.message"`.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The calling client's id.
    pub fn client_id(&self) -> &ClientId {
        &self.conn.id
    }

    /// The calling connection's context.
    pub fn context(&self) -> &C {
        &self.conn.ctx
    }

    /// The application state.
    pub fn state(&self) -> &S {
        &self.app.state
    }

    /// Whether the client waits for a reply (the message carried an `rpcId`).
    pub fn expects_reply(&self) -> bool {
        self.expects_reply
    }

    /// A sender for this server's outgoing messages.
    pub fn sender(&self) -> Sender<O> {
        Sender::new(self.app.hub.clone())
    }

    /// The calling client's rooms.
    pub fn rooms(&self) -> Rooms {
        Rooms::new(self.app.hub.clone(), self.conn.id.clone())
    }

    /// The encoding the connection speaks.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The payload as JSON bytes (a MessagePack payload is converted), if the message had a
    /// non-null payload; one that has no JSON form (a map with non-string keys, say) is invalid
    /// input. Only [`FromInput`](crate::FromInput) extractors see it.
    pub(crate) fn json_payload(&self) -> Result<Option<Cow<'_, [u8]>>, CallError> {
        let Some(raw) = self.payload.as_deref() else {
            return Ok(None);
        };
        self.codec.payload_to_json(raw).map(Some).map_err(|error| {
            let issue = Issue::new(Vec::<PathSegment>::new(), error.to_string());
            CallError::invalid_input(vec![issue])
        })
    }

    /// The payload as the client sent it, in the connection's codec.
    pub(crate) fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}

impl<O, C, S> fmt::Debug for Call<O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("route", &self.route)
            .field("client_id", &self.conn.id)
            .field("expects_reply", &self.expects_reply)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}
