//! Streams of events and of connection states, fed by bounded broadcast channels.

use futures_core::Stream;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::sync::broadcast;

/// A stream of the server's events (or of connection states), each as the client's outgoing
/// type `T`. It ends when the client is closed for good.
///
/// Each subscriber has its own bounded buffer ([`ClientBuilder::event_buffer`](crate::ClientBuilder::event_buffer)):
/// one that falls further behind misses the oldest items, and [`missed`](Self::missed) counts
/// them. Nothing is buffered for a subscriber before it subscribes.
pub struct Subscription<T> {
    inner: BoxStream<'static, T>,
    missed: Arc<AtomicU64>,
}

impl<T: Clone + Send + 'static> Subscription<T> {
    /// Items from `receiver` that pass `keep`; `None` makes a stream that has ended.
    pub(crate) fn new(receiver: Option<broadcast::Receiver<T>>, keep: impl Fn(&T) -> bool + Send + 'static) -> Self {
        let missed = Arc::new(AtomicU64::new(0));
        let counter = missed.clone();
        let inner = match receiver {
            None => stream::empty().boxed(),
            Some(receiver) => stream::unfold((receiver, keep, counter), |(mut receiver, keep, counter)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(item) if keep(&item) => return Some((item, (receiver, keep, counter))),
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            counter.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .boxed(),
        };
        Self { inner, missed }
    }
}

impl<T> Subscription<T> {
    /// How many items this subscriber missed because it fell behind.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl<T> Stream for Subscription<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("missed", &self.missed())
            .finish_non_exhaustive()
    }
}
