//! Stopping a server: the signal every connection watches, and the connections still running.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Stopping: the signal every connection watches, and the connections still running.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    pub(crate) shutdown: CancellationToken,
    pub(crate) connections: TaskTracker,
}
