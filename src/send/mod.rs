//! Sending server messages: the [`Outgoing`] set, the typed [`Sender`] and its [`Emit`] targets.

mod outgoing;
mod sender;

pub use outgoing::Outgoing;
pub(crate) use outgoing::PayloadOf;
pub use sender::{Emit, EmitError, Sender};
