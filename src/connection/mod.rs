//! The connection runtime: the HTTP upgrade ([`upgrade`]), then one task per connection that
//! reads frames, runs calls concurrently, writes replies and pushes, pings, and cleans up.

mod admit;
mod dispatch;
mod pending;
mod rate;
mod resume;
mod session;
mod shared;
mod upgrade;

#[cfg(feature = "testing")]
pub(crate) use admit::{Opening, Refused, Start, reserve};
pub(crate) use resume::{ContextCodec, Peer, Sessions};
pub(crate) use shared::{Route, Shared};
pub(crate) use upgrade::upgrade;
