//! [`RedisBackplane`]: the nodes of one app talk through Redis publish/subscribe.

use super::{Backplane, BackplaneError, Inbound};
use bytes::Bytes;
use fred::clients::SubscriberClient;
use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, PubsubInterface, ReconnectPolicy, TcpConfig, Value,
};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Publications waiting to be sent to Redis; past this a publication is dropped (and counted).
const QUEUE: usize = 16 * 1024;
/// Publications sent to Redis in one pipeline.
const BATCH: usize = 256;
/// Messages received but not yet handled; past this the oldest are lost (and logged).
const RECEIVED: usize = 16 * 1024;
/// The publisher's event channels (errors, reconnects): it receives no messages.
const EVENTS: usize = 32;

/// A [`Backplane`] over Redis publish/subscribe (any Redis 6 or later, or Valkey).
///
/// Two connections per node: one publishes (pipelined, in order), one subscribes. Both
/// reconnect by themselves with exponential backoff (100 ms doubling up to 2 s, forever); after
/// a reconnect every channel still wanted is subscribed again. While Redis is away, local
/// delivery goes on and cross-node publications are dropped: Redis publish/subscribe stores
/// nothing, so what is sent during an outage never reaches other nodes. The outage and the
/// recovery are logged once each.
///
/// ```no_run
/// # use zocket::{cluster::RedisBackplane, NoHeaders, NoOutgoing, Zocket};
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let zo = Zocket::<NoHeaders, NoOutgoing>::new()
///     .backplane(RedisBackplane::new("redis://127.0.0.1:6379")?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisBackplane {
    shared: Arc<Shared>,
}

/// What the publishing task does next.
#[derive(Debug)]
enum Job {
    /// Publish on the channel (full name).
    Publish(String, Bytes),
    /// Tell when everything queued before is sent.
    Flush(oneshot::Sender<()>),
}

/// The channels a node wants, and how many subscriptions it asked for so far.
#[derive(Debug, Default, Clone, PartialEq)]
struct Wanted {
    channels: BTreeSet<String>,
    asked: u64,
}

#[derive(Debug)]
struct Shared {
    /// Every channel is `PREFIX:NAME`.
    prefix: String,
    publisher: Client,
    subscriber: SubscriberClient,
    queue: mpsc::Sender<Job>,
    queued: Mutex<Option<mpsc::Receiver<Job>>>,
    /// The channels this node wants, without prefix.
    wanted: Mutex<Wanted>,
    changed: Notify,
    /// The last [`Wanted::asked`] whose channels were all subscribed.
    synced: watch::Sender<u64>,
    /// The publishing connection is up.
    up: AtomicBool,
    /// Both connections are up and every wanted channel is subscribed.
    ready: AtomicBool,
    /// An outage was logged and its end not yet.
    down_logged: AtomicBool,
    /// Publications dropped because Redis was away or the queue was full.
    dropped: AtomicU64,
    /// The server is gone: every task ends.
    stopped: CancellationToken,
}

impl RedisBackplane {
    /// A backplane on the Redis at `url` (`redis://[[user]:password@]host[:port][/db]`). It
    /// connects when the server starts, and keeps trying if Redis is not there yet.
    pub fn new(url: &str) -> Result<Self, BackplaneError> {
        let mut config = Config::from_url(url).map_err(|e| BackplaneError::new(format!("bad Redis URL: {e}")))?;
        // Keep trying, in the background, when Redis is not there at start.
        config.fail_fast = false;
        let mut builder = Builder::from_config(config);
        builder.set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        builder.with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
            // Commands issued while disconnected wait here, bounded.
            c.max_command_buffer_len = QUEUE;
            c.tcp = TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            };
        });
        // Every client has nine event channels of this capacity, allocated and written up front
        // (tokio's broadcast): only the subscriber's messages need room, so the publisher keeps
        // the default (16 Ki slots in all eighteen held 17 MB of every node's memory).
        builder.with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(5);
            p.broadcast_channel_capacity = EVENTS;
        });
        let failed = |e: fred::error::Error| BackplaneError::new(format!("cannot set up the Redis client: {e}"));
        let publisher = builder.build().map_err(failed)?;
        builder.with_performance_config(|p| p.broadcast_channel_capacity = RECEIVED);
        let subscriber = builder.build_subscriber_client().map_err(failed)?;
        let (queue, queued) = mpsc::channel(QUEUE);
        Ok(Self {
            shared: Arc::new(Shared {
                prefix: "zocket".to_owned(),
                publisher,
                subscriber,
                queue,
                queued: Mutex::new(Some(queued)),
                wanted: Mutex::default(),
                changed: Notify::new(),
                synced: watch::Sender::new(0),
                up: AtomicBool::new(false),
                ready: AtomicBool::new(false),
                down_logged: AtomicBool::new(false),
                dropped: AtomicU64::new(0),
                stopped: CancellationToken::new(),
            }),
        })
    }

    /// Puts this app's channels under `prefix` (default `zocket`), so several apps can share
    /// one Redis. Every node of an app must use the same prefix. Set it before the server is
    /// built.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.prefix = prefix.to_owned(),
            None => tracing::error!("RedisBackplane::prefix after the backplane was shared: ignored"),
        }
        self
    }

    /// How many publications were dropped so far because Redis was away or too slow.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Backplane for RedisBackplane {
    fn start(&self, inbound: Inbound) {
        let Some(queued) = self.shared.queued.lock().take() else {
            tracing::error!("a RedisBackplane serves one server only: started twice");
            return;
        };
        let shared = &self.shared;
        // Listening before connecting, so nothing received is missed.
        let messages = shared.subscriber.message_rx();
        let (errors, sub_errors) = (shared.publisher.error_rx(), shared.subscriber.error_rx());
        let (reconnects, sub_reconnects) = (shared.publisher.reconnect_rx(), shared.subscriber.reconnect_rx());
        shared.publisher.connect();
        shared.subscriber.connect();
        // Every log line of this backplane names its node.
        let span = tracing::info_span!("redis", node = %inbound.node_id());
        tokio::spawn(publish(shared.clone(), queued).instrument(span.clone()));
        tokio::spawn(watch(shared.clone(), errors, sub_errors, reconnects).instrument(span.clone()));
        tokio::spawn(subscribe(shared.clone(), sub_reconnects, inbound.clone()).instrument(span.clone()));
        tokio::spawn(receive(shared.clone(), messages, inbound).instrument(span));
    }

    fn publish(&self, channel: &str, message: Bytes) {
        let shared = &self.shared;
        if !shared.up.load(Ordering::Relaxed) {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if shared
            .queue
            .try_send(Job::Publish(shared.channel(channel), message))
            .is_err()
            && shared.dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(10_000)
        {
            tracing::warn!("Redis is not keeping up: cross-node publications dropped");
        }
    }

    fn publish_counted(&self, channel: &str, message: Bytes) -> BoxFuture<'static, Result<usize, BackplaneError>> {
        let shared = self.shared.clone();
        let channel = shared.channel(channel);
        Box::pin(async move {
            if !shared.up.load(Ordering::Relaxed) {
                return Err(BackplaneError::new("Redis is unreachable"));
            }
            let received: i64 = shared
                .publisher
                .publish(channel, message)
                .await
                .map_err(BackplaneError::new)?;
            Ok(usize::try_from(received).unwrap_or(0))
        })
    }

    fn subscribe(&self, channel: &str) {
        let mut wanted = self.shared.wanted.lock();
        if wanted.channels.insert(channel.to_owned()) {
            wanted.asked += 1;
            self.shared.changed.notify_one();
        }
    }

    fn unsubscribe(&self, channel: &str) {
        if self.shared.wanted.lock().channels.remove(channel) {
            self.shared.changed.notify_one();
        }
    }

    fn subscribed(&self) -> BoxFuture<'static, ()> {
        let shared = &self.shared;
        let asked = shared.wanted.lock().asked;
        if *shared.synced.borrow() >= asked || !shared.subscriber.is_connected() {
            // In sync, or away: after the reconnect every wanted channel is subscribed again.
            return Box::pin(async {});
        }
        let mut synced = shared.synced.subscribe();
        Box::pin(async move {
            let _ = synced.wait_for(|synced| *synced >= asked).await;
        })
    }

    fn is_up(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed)
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let queue = self.shared.queue.clone();
        Box::pin(async move {
            let (done, flushed) = oneshot::channel();
            if queue.send(Job::Flush(done)).await.is_ok() {
                let _ = flushed.await;
            }
        })
    }
}

impl Shared {
    fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn went_down(&self, error: &dyn std::fmt::Display) {
        self.up.store(false, Ordering::Relaxed);
        self.ready.store(false, Ordering::Relaxed);
        self.changed.notify_one();
        if !self.down_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %error,
                "lost Redis: local delivery goes on, messages for other nodes are dropped until it is back"
            );
        }
    }
}

/// Sends queued publications in order, a pipeline of up to `BATCH` at a time.
async fn publish(shared: Arc<Shared>, mut queued: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    loop {
        let received = tokio::select! {
            received = queued.recv_many(&mut batch, BATCH) => received,
            () = shared.stopped.cancelled() => return,
        };
        if received == 0 {
            return;
        }
        let up = shared.up.load(Ordering::Relaxed);
        let pipeline = shared.publisher.pipeline();
        let mut count = 0;
        for job in batch.drain(..) {
            match job {
                Job::Publish(..) if !up => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Job::Publish(channel, message) => {
                    // Queued in the pipeline, not sent yet: this cannot fail.
                    let _: Result<(), _> = pipeline.publish(channel, message).await;
                    count += 1;
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        if count > 0 {
            if let Err(error) = pipeline.all::<Value>().await {
                shared.dropped.fetch_add(count, Ordering::Relaxed);
                shared.went_down(&error);
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Follows the connections' health: logs an outage once, and stops publishing during it.
async fn watch(
    shared: Arc<Shared>,
    mut errors: broadcast::Receiver<(fred::error::Error, Option<fred::prelude::Server>)>,
    mut sub_errors: broadcast::Receiver<(fred::error::Error, Option<fred::prelude::Server>)>,
    mut reconnects: broadcast::Receiver<fred::prelude::Server>,
) {
    loop {
        tokio::select! {
            error = errors.recv() => match error {
                Ok((error, _)) => shared.went_down(&error),
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            error = sub_errors.recv() => match error {
                Ok((error, _)) => shared.went_down(&error),
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            connected = reconnects.recv() => match connected {
                Ok(_) => {
                    shared.up.store(true, Ordering::Relaxed);
                    shared.changed.notify_one();
                }
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
        }
    }
}

/// Keeps Redis subscribed to exactly the wanted channels: subscribes and unsubscribes the
/// difference whenever it changes, and everything again after each reconnect.
async fn subscribe(shared: Arc<Shared>, mut reconnects: broadcast::Receiver<fred::prelude::Server>, inbound: Inbound) {
    let mut active: BTreeSet<String> = BTreeSet::new();
    let mut first = true;
    let mut resync = false;
    loop {
        if shared.subscriber.is_connected() {
            let Wanted {
                channels: wanted,
                asked,
            } = shared.wanted.lock().clone();
            let add: Vec<String> = wanted.difference(&active).map(|c| shared.channel(c)).collect();
            let remove: Vec<String> = active.difference(&wanted).map(|c| shared.channel(c)).collect();
            let mut synced = true;
            if !add.is_empty() {
                match subscribe_confirmed(&shared.subscriber, add).await {
                    Ok(()) => active.extend(wanted.difference(&active).cloned().collect::<Vec<_>>()),
                    Err(error) => {
                        synced = false;
                        tracing::debug!(%error, "subscribing failed; trying again");
                    }
                }
            }
            if !remove.is_empty() {
                match shared.subscriber.unsubscribe(remove).await {
                    Ok(()) => active.retain(|c| wanted.contains(c)),
                    Err(error) => {
                        synced = false;
                        tracing::debug!(%error, "unsubscribing failed; trying again");
                    }
                }
            }
            if synced {
                shared
                    .synced
                    .send_if_modified(|done| std::mem::replace(done, asked) != asked);
            }
            let ready = synced && shared.up.load(Ordering::Relaxed);
            shared.ready.store(ready, Ordering::Relaxed);
            if ready && resync {
                resync = false;
                if first {
                    first = false;
                    tracing::info!(channels = active.len(), "connected to Redis");
                } else if shared.down_logged.swap(false, Ordering::Relaxed) {
                    tracing::info!(channels = active.len(), "Redis is back: every channel subscribed again");
                }
            }
        }
        if inbound.is_closed() {
            shared.stopped.cancel();
            let _ = shared.subscriber.quit().await;
            let _ = shared.publisher.quit().await;
            return;
        }
        let in_sync = shared.wanted.lock().channels == active && shared.ready.load(Ordering::Relaxed);
        tokio::select! {
            () = shared.changed.notified() => {}
            reconnected = reconnects.recv() => match reconnected {
                Ok(_) => {
                    // A new connection has no subscriptions.
                    active.clear();
                    resync = true;
                }
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => active.clear(),
            },
            () = tokio::time::sleep(Duration::from_millis(500)), if !in_sync => {}
            // Notice a server that is gone even when nothing changes.
            () = tokio::time::sleep(Duration::from_secs(5)), if in_sync => {}
        }
    }
}

/// Subscribes `channels` and resolves once Redis has done it. fred's `subscribe` resolves as
/// soon as the command is written (Redis confirms a subscription out of band); a `PING` on the
/// same connection is answered after the `SUBSCRIBE` before it was carried out.
async fn subscribe_confirmed(subscriber: &SubscriberClient, channels: Vec<String>) -> Result<(), fred::error::Error> {
    subscriber.subscribe(channels).await?;
    subscriber.ping::<Value>(None).await.map(drop)
}

/// Hands every message of a subscribed channel to the node.
async fn receive(shared: Arc<Shared>, mut messages: broadcast::Receiver<fred::types::Message>, inbound: Inbound) {
    let prefix = format!("{}:", shared.prefix);
    loop {
        match messages.recv().await {
            Ok(message) => {
                let Some(channel) = message.channel.strip_prefix(&prefix) else {
                    continue;
                };
                match message.value.into_bytes() {
                    Some(bytes) => inbound.receive(channel, bytes),
                    None => tracing::warn!(channel, "skipping a publication that is not a string"),
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "this node fell behind Redis: messages from other nodes were lost"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_subscriber_keeps_room_for_received_messages() {
        // Built without connecting: nothing listens on port 1.
        let backplane = RedisBackplane::new("redis://127.0.0.1:1").unwrap();
        let capacity = |config: fred::types::config::PerformanceConfig| config.broadcast_channel_capacity;
        assert_eq!(capacity(backplane.shared.subscriber.perf_config()), RECEIVED);
        assert_eq!(capacity(backplane.shared.publisher.perf_config()), EVENTS);
    }
}
