//! [`Sender`] and the [`Emit`] chain: `send.emit(msg).except(id).to_room("lobby")`.

use super::{ClientIds, Outgoing, PayloadOf, RoomNames};
use crate::hub::{self, Delivery, Encoded, Hub, Target};
use std::{fmt, marker::PhantomData, sync::Arc};
use zocket_protocol::{Codec, EncodeError};

/// Sends this server's outgoing messages `O`, from handlers, hooks or anywhere else.
///
/// Cheap to clone. As a handler argument it is an extractor. Only `O` (or a type that converts
/// into it) can be sent, so an undeclared message does not compile.
///
/// ```
/// # use zocket::{Outgoing, Sender};
/// # use serde::Serialize;
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.announcement")]
///     Announcement { text: String },
/// }
///
/// async fn announce(send: Sender<Out>) -> Result<(), zocket::CallError> {
///     send.emit(Out::Announcement { text: "hello".into() }).broadcast()?;
///     Ok(())
/// }
/// ```
pub struct Sender<O> {
    hub: Arc<Hub>,
    _out: PhantomData<fn(O)>,
}

impl<O> Sender<O> {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub, _out: PhantomData }
    }
}

impl<O: Outgoing> Sender<O> {
    /// Starts sending `message`; finish with [`Emit::to`], [`Emit::to_room`] or [`Emit::broadcast`].
    pub fn emit(&self, message: impl Into<O>) -> Emit<'_, O> {
        Emit {
            hub: &self.hub,
            message: message.into(),
            except: Vec::new(),
        }
    }
}

impl<O> Clone for Sender<O> {
    fn clone(&self) -> Self {
        Self::new(self.hub.clone())
    }
}

impl<O> fmt::Debug for Sender<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// One message on its way out: choose who gets it.
///
/// The message is serialized once, and the same bytes go to every recipient.
#[must_use = "nothing is sent until you call .to(..), .to_room(..) or .broadcast()"]
pub struct Emit<'a, O> {
    hub: &'a Hub,
    message: O,
    except: Vec<Box<str>>,
}

impl<O: Outgoing> Emit<'_, O> {
    /// Leaves these clients out (for example the sender itself).
    pub fn except(mut self, ids: impl ClientIds) -> Self {
        self.except.extend(ids.into_ids());
        self
    }

    /// Sends to these clients. Unknown ids are skipped.
    pub fn to(self, ids: impl ClientIds) -> Result<Delivery, EmitError> {
        let ids = ids.into_ids();
        self.deliver(Target::Clients(&ids))
    }

    /// Sends to every member of these rooms; a member of several gets one copy.
    pub fn to_room(self, rooms: impl RoomNames) -> Result<Delivery, EmitError> {
        let rooms = rooms.into_names();
        self.deliver(Target::Rooms(&rooms))
    }

    /// Sends to every connected client.
    pub fn broadcast(self) -> Result<Delivery, EmitError> {
        self.deliver(Target::All)
    }

    fn deliver(self, target: Target<'_>) -> Result<Delivery, EmitError> {
        let route = self.message.route();
        let payload = PayloadOf(&self.message);
        let encode = |codec: Codec| hub::encode(|out| codec.write_event(out, &route, &payload));
        let message = Encoded::new(&encode);
        let delivery = self.hub.deliver(target, &self.except, &message);
        match message.into_error() {
            None => Ok(delivery),
            Some(error) => Err(EmitError {
                route: route.to_string(),
                error,
            }),
        }
    }
}

impl<O> fmt::Debug for Emit<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("except", &self.except)
            .finish_non_exhaustive()
    }
}

/// A message could not be serialized (for example a map with non-string keys); no client
/// speaking the codec that failed received it.
#[derive(Debug)]
pub struct EmitError {
    route: String,
    error: EncodeError,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot serialize the payload of \"{}\": {}", self.route, self.error)
    }
}

impl std::error::Error for EmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
