//! What the typed client's tests against the conformance binary share: their time limits, the
//! next item of a stream, a quick backoff.
#![allow(dead_code)]

use super::process;
use futures_util::StreamExt;
use std::future::Future;
use std::time::Duration;
use zocket_client::{Backoff, Subscription};

/// Every test ends within this.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for something that should come.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Runs `test` within [`LIMIT`]; building the binaries (when cargo has not yet) is not part of it.
pub(crate) async fn bounded<T>(test: impl Future<Output = T>) -> T {
    process::example("conformance");
    tokio::time::timeout(LIMIT, test).await.expect("the test took too long")
}

/// The next item of a stream, within [`WAIT`].
pub(crate) async fn next<T>(stream: &mut Subscription<T>) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("nothing came")
        .expect("the stream ended")
}

/// Quick backoff: 100 ms, doubling up to 400 ms.
pub(crate) fn quick() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(100))
        .max(Duration::from_millis(400))
}
