//! Sending server messages: the [`Outgoing`] set, the typed [`Sender`] and its [`Emit`] targets.

mod outgoing;
mod sender;
mod targets;

pub use outgoing::Outgoing;
pub(crate) use outgoing::PayloadOf;
pub use sender::{Emit, EmitError, Sender};
pub use targets::{ClientIds, RoomNames};
