//! Metrics through the [`metrics`] facade, and the one log line of every refused connection.
//!
//! Nothing is recorded until the application installs a recorder (for example
//! `metrics-exporter-prometheus`, as the chat example does at `/metrics`); install it before
//! serving, since per-route handles are registered on first use. Every label takes a bounded
//! set of values: route names are the router's own (a route no handler has is `(unknown)`),
//! close codes outside the protocol's range are grouped.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `zocket_connections` | gauge | |
//! | `zocket_connections_total` | counter | |
//! | `zocket_upgrades_refused_total` | counter | `reason` |
//! | `zocket_calls_total` | counter | `route`, `outcome` (`ok` or an error code) |
//! | `zocket_closes_total` | counter | `by` (`client`, `server`, `none`), `code` |
//! | `zocket_queue_overflows_total` | counter | |

use metrics::{Counter, SharedString, counter, gauge};
use std::sync::{Arc, OnceLock};
use zocket_protocol::ErrorCode;

/// The `route` label of a message no route handles.
const UNKNOWN_ROUTE: &str = "(unknown)";

/// Why a connection was refused before it became a WebSocket: the `reason` label of
/// `zocket_upgrades_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request head did not arrive within `header_read_timeout` (slowloris).
    HeaderTimeout,
    /// Not a WebSocket upgrade this server can take.
    Handshake,
    /// The `Origin` is not in the allow-list.
    Origin,
    /// `max_connections` are open.
    Full,
    /// The headers failed their schema.
    Headers,
    /// `on_connect` refused.
    Rejected,
    /// `on_connect` took longer than `on_connect_timeout`.
    ConnectTimeout,
    /// `on_connect` panicked.
    ConnectPanicked,
    /// The server is shutting down.
    ShuttingDown,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::Handshake => "handshake",
            Self::Origin => "origin",
            Self::Full => "full",
            Self::Headers => "headers",
            Self::Rejected => "rejected",
            Self::ConnectTimeout => "on_connect_timeout",
            Self::ConnectPanicked => "on_connect_panicked",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// Counts and logs (once, with its reason and the status answered, if any; never a header's
/// value) a refusal.
pub(crate) fn refused(reason: Refusal, status: Option<u16>) {
    let reason = reason.label();
    match status {
        Some(status) => tracing::info!(target: "zocket::refused", reason, status, "connection refused"),
        None => tracing::info!(target: "zocket::refused", reason, "connection closed"),
    }
    counter!("zocket_upgrades_refused_total", "reason" => reason).increment(1);
}

/// One WebSocket connection, counted in `zocket_connections` while it lives.
#[derive(Debug)]
pub(crate) struct OpenConnection(());

impl OpenConnection {
    pub(crate) fn new() -> Self {
        counter!("zocket_connections_total").increment(1);
        gauge!("zocket_connections").increment(1.0);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        gauge!("zocket_connections").decrement(1.0);
    }
}

/// Who ended a connection: the `by` label of `zocket_closes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosedBy {
    /// The client sent a close frame.
    Client,
    /// The server sent one.
    Server,
    /// Nobody did: the socket broke, or a write failed or timed out.
    Nobody,
}

/// Counts how a connection ended.
pub(crate) fn closed(by: ClosedBy, code: Option<u16>) {
    let by = match by {
        ClosedBy::Client => "client",
        ClosedBy::Server => "server",
        ClosedBy::Nobody => "none",
    };
    counter!("zocket_closes_total", "by" => by, "code" => code_label(code)).increment(1);
}

/// A close code as a label: the protocol's own codes by number, the rest grouped.
fn code_label(code: Option<u16>) -> &'static str {
    const PROTOCOL: [&str; 16] = [
        "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010", "1011", "1012", "1013",
        "1014", "1015",
    ];
    match code {
        None => "none",
        Some(code @ 1000..=1015) => PROTOCOL[usize::from(code - 1000)],
        Some(3000..=4999) => "application",
        Some(_) => "other",
    }
}

/// Counts a client flagged as too slow because its queue was full.
pub(crate) fn queue_overflow() {
    counter!("zocket_queue_overflows_total").increment(1);
}

/// The call counters of one route; the success counter is kept, since it is the hot one.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    name: Arc<str>,
    ok: OnceLock<Counter>,
}

impl RouteMetrics {
    pub(crate) fn new(name: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            name,
            ok: OnceLock::new(),
        })
    }

    /// Counts a call that succeeded.
    pub(crate) fn ok(&self) {
        let counter = self.ok.get_or_init(|| {
            let route = SharedString::from(self.name.clone());
            counter!("zocket_calls_total", "route" => route, "outcome" => "ok")
        });
        counter.increment(1);
    }

    /// Counts a call that failed with `code`.
    pub(crate) fn failed(&self, code: ErrorCode) {
        call_failed(Some(self), code);
    }
}

/// Counts a call that failed with `code`, on `route` if it named one the router has.
pub(crate) fn call_failed(route: Option<&RouteMetrics>, code: ErrorCode) {
    let route = route.map_or(SharedString::const_str(UNKNOWN_ROUTE), |route| {
        SharedString::from(route.name.clone())
    });
    counter!("zocket_calls_total", "route" => route, "outcome" => code.as_str()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_labels_are_bounded() {
        assert_eq!(code_label(Some(1000)), "1000");
        assert_eq!(code_label(Some(1015)), "1015");
        assert_eq!(code_label(Some(4001)), "application");
        assert_eq!(code_label(Some(1016)), "other");
        assert_eq!(code_label(Some(65535)), "other");
        assert_eq!(code_label(None), "none");
    }
}
