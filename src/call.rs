//! [`Call`]: one incoming message on its way to a handler.

use crate::hub::{self, Hub, Message};
use crate::{CallError, ClientId, Rooms, Sender};
use bytes::Bytes;
use serde::Serialize;
use std::{fmt, marker::PhantomData, sync::Arc};
use zocket_protocol::Codec;

/// The connection a call came from: its id and the context `on_connect` built.
#[derive(Debug)]
pub(crate) struct Conn<C> {
    pub(crate) id: ClientId,
    pub(crate) ctx: C,
}

/// One message from a client, as extractors and middleware see it.
///
/// `C` is the connection context built by `on_connect`, `O` the server's outgoing messages.
pub struct Call<C, O> {
    pub(crate) conn: Arc<Conn<C>>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) route: Arc<str>,
    /// The payload as JSON, whatever the connection's codec.
    pub(crate) payload: Option<Bytes>,
    /// The encoded call id, a slice of the frame it came in.
    pub(crate) rpc_id: Option<Bytes>,
    pub(crate) codec: Codec,
    pub(crate) _out: PhantomData<fn() -> O>,
}

impl<C, O> Call<C, O> {
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

    /// Whether the client waits for a reply (the message carried an `rpcId`).
    pub fn expects_reply(&self) -> bool {
        self.rpc_id.is_some()
    }

    /// The raw payload as JSON bytes (a MessagePack connection's payload is converted), if the
    /// message had a non-null payload.
    ///
    /// An extractor that reads it must declare [`FromCall::READS_INPUT`](crate::FromCall::READS_INPUT)
    /// as `true`, or routes using it refuse every payload.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// A sender for this server's outgoing messages.
    pub fn sender(&self) -> Sender<O> {
        Sender::new(self.hub.clone())
    }

    /// The calling client's rooms.
    pub fn rooms(&self) -> Rooms {
        Rooms::new(self.hub.clone(), self.conn.id.clone())
    }

    /// The encoding the connection speaks.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Encodes the success reply, when the client waits for one.
    pub(crate) fn encode_reply<T: Serialize>(&self, value: &T) -> Result<Option<Message>, CallError> {
        match &self.rpc_id {
            None => Ok(None),
            Some(id) => hub::encode(|out| self.codec.write_reply(out, id, value))
                .map(Some)
                .map_err(|error| {
                    tracing::error!(%error, route = %self.route, "reply does not serialize");
                    CallError::internal()
                }),
        }
    }
}

impl<C, O> fmt::Debug for Call<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("route", &self.route)
            .field("client_id", &self.conn.id)
            .field("rpc_id", &self.rpc_id)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}
