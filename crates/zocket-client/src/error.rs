//! [`ClientError`]: why a call, a send or a connection failed.

use std::fmt;
use std::time::Duration;
use zocket_protocol::{ErrorCode, ErrorPayload, Issue};

/// Why a call, a send or a connection failed.
///
/// A call ends in exactly one of: its reply, [`Server`](Self::Server) (the server answered
/// with an error), [`Disconnected`](Self::Disconnected) (the connection dropped while it was in
/// flight: it may or may not have run, and it is never sent again), [`TimedOut`](Self::TimedOut)
/// or [`Closed`](Self::Closed).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error: its code, message and (for `INVALID_INPUT`) every
    /// failing field. For a [`send`](crate::Client::send), it arrives as an `__error` frame
    /// and is the client's [`last_error`](crate::Client::last_error).
    Server(ErrorPayload),
    /// The connection dropped while the call was in flight.
    Disconnected,
    /// No reply within the call's timeout.
    TimedOut(Duration),
    /// The client is closed ([`close`](crate::Client::close), or reconnecting gave up).
    Closed,
    /// The outbox is full: too many messages wait for the connection (while it reconnects, or
    /// faster than it writes). The message was not queued; nothing waiting was dropped.
    OutboxFull,
    /// The server refused the connection before the upgrade: its HTTP status and message
    /// (`400` for invalid headers, `401`/`403` when `on_connect` or the origin check refuses,
    /// `503` while it shuts down).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's `error` message, or the body as text.
        message: String,
    },
    /// The connection could not be made or was lost (address, TCP, TLS, WebSocket handshake,
    /// timeout, a dead server), with the cause.
    Connection(String),
    /// A reply or an event did not have its declared type, or an event's route is not one of
    /// the client's outgoing type.
    Decode {
        /// The route of the reply or event.
        route: String,
        /// What did not match.
        message: String,
    },
    /// A call's input could not be encoded, or the client was built with bad options.
    Encode(String),
}

impl ClientError {
    /// The server's error code, for [`Server`](Self::Server) errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server(error) => Some(error.code),
            _ => None,
        }
    }

    /// The failing fields the server named, for [`Server`](Self::Server) errors (empty
    /// otherwise).
    pub fn issues(&self) -> &[Issue] {
        match self {
            Self::Server(error) => &error.issues,
            _ => &[],
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(error) => {
                write!(f, "{} {}", error.code, error.message)?;
                if let Some(route) = &error.route {
                    write!(f, " (route {route})")?;
                }
                for issue in &error.issues {
                    write!(f, "; {:?}: {}", issue.path, issue.message)?;
                }
                Ok(())
            }
            Self::Disconnected => f.write_str("the connection dropped before the reply"),
            Self::TimedOut(after) => write!(f, "no reply within {after:?}"),
            Self::Closed => f.write_str("the client is closed"),
            Self::OutboxFull => f.write_str("the outbox is full"),
            Self::Refused { status, message } => write!(f, "the server refused the connection ({status}): {message}"),
            Self::Connection(cause) => write!(f, "connection failed: {cause}"),
            Self::Decode { route, message } => write!(f, "unexpected message on {route}: {message}"),
            Self::Encode(cause) => write!(f, "cannot encode: {cause}"),
        }
    }
}

impl std::error::Error for ClientError {}
