//! [`ConnectionState`]: where the client's connection stands.

use std::time::Duration;

/// Where the client's connection stands. The current one is [`Client::state`](crate::Client::state)
/// (also as a `watch`), every change in order is [`Client::state_changes`](crate::Client::state_changes).
///
/// A drop goes `Open { .. }` → `Closed { .. }` → `Reconnecting { attempt: 1, .. }` →
/// (`Reconnecting { attempt: 2, .. }` → ...) → `Open { resumed }`; a client that stops for good
/// ends in `Closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    /// Connected: messages flow.
    Open {
        /// The server took this connection over the session of the dropped one (a server with
        /// resume on, within its window): the same context and rooms, and every event missed
        /// meanwhile comes next, once and in order; the re-join hook did not run. `false` for
        /// the first connection and for a fresh session (resume off, or refused: the hook ran).
        resumed: bool,
    },
    /// The connection closed.
    Closed {
        /// The WebSocket close code: the server's, or 1006 when the connection was lost without
        /// one (a dropped socket, a dead server).
        code: u16,
        /// The close reason, or what happened.
        reason: String,
    },
    /// Waiting `delay` before the `attempt`-th reconnection attempt (1 for the first).
    Reconnecting {
        /// Which attempt comes next, from 1.
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
    },
}

impl ConnectionState {
    /// Whether messages flow.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

/// The close code for a connection lost without a close frame (as browsers report it).
pub(crate) const ABNORMAL: u16 = 1006;
