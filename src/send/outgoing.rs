//! The set of messages a server may send: a type, never strings in user code. The trait lives
//! in `zocket-core`, which clients share (they decode the same enum).

pub use zocket_core::Outgoing;
pub(crate) use zocket_core::PayloadOf;
