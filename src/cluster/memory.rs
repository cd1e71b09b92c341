//! [`MemoryBus`]: a backplane inside one process, for tests of several nodes without Redis.

use super::{Backplane, BackplaneError, Inbound};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Messages waiting for one node; past this a publication to it is dropped.
const QUEUE: usize = 16 * 1024;

/// A bus between servers of one process: every [`MemoryBus::node`] reaches the others, as nodes
/// on one Redis do. Subscriptions take effect at once, so a test needs no waiting.
///
/// ```
/// # use zocket::{cluster::MemoryBus, NoHeaders, NoOutgoing, Zocket};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let bus = MemoryBus::new();
/// let one = Zocket::<NoHeaders, NoOutgoing>::new().backplane(bus.node());
/// let two = Zocket::<NoHeaders, NoOutgoing>::new().backplane(bus.node());
/// # let (r1, r2) = (one.router(), two.router());
/// # let (_s1, _s2) = (one.server(r1), two.server(r2));
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    members: Arc<Mutex<Vec<Arc<Member>>>>,
}

#[derive(Debug)]
struct Member {
    channels: Mutex<HashSet<String>>,
    queue: mpsc::Sender<(String, Bytes)>,
    queued: Mutex<Option<mpsc::Receiver<(String, Bytes)>>>,
    inbound: OnceLock<Inbound>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backplane for one more node on this bus.
    pub fn node(&self) -> MemoryBackplane {
        let (queue, queued) = mpsc::channel(QUEUE);
        let me = Arc::new(Member {
            channels: Mutex::default(),
            queue,
            queued: Mutex::new(Some(queued)),
            inbound: OnceLock::new(),
        });
        self.members.lock().push(me.clone());
        MemoryBackplane { bus: self.clone(), me }
    }

    fn publish(&self, channel: &str, message: &Bytes) -> usize {
        let members = self.members.lock();
        let mut received = 0;
        for member in members.iter().filter(|m| m.channels.lock().contains(channel)) {
            if member.queue.try_send((channel.to_owned(), message.clone())).is_ok() {
                received += 1;
            }
        }
        received
    }
}

/// One node's end of a [`MemoryBus`].
#[derive(Debug)]
pub struct MemoryBackplane {
    bus: MemoryBus,
    me: Arc<Member>,
}

impl Backplane for MemoryBackplane {
    fn start(&self, inbound: Inbound) {
        let Some(mut queued) = self.me.queued.lock().take() else {
            return;
        };
        let _ = self.me.inbound.set(inbound.clone());
        let (bus, me) = (self.bus.clone(), self.me.clone());
        tokio::spawn(async move {
            while let Some((channel, message)) = queued.recv().await {
                if inbound.is_closed() {
                    break;
                }
                inbound.receive(&channel, message);
            }
            bus.members.lock().retain(|member| !Arc::ptr_eq(member, &me));
        });
    }

    fn publish(&self, channel: &str, message: Bytes) {
        self.bus.publish(channel, &message);
    }

    fn publish_counted(&self, channel: &str, message: Bytes) -> BoxFuture<'static, Result<usize, BackplaneError>> {
        let received = self.bus.publish(channel, &message);
        Box::pin(async move { Ok(received) })
    }

    fn subscribe(&self, channel: &str) {
        self.me.channels.lock().insert(channel.to_owned());
    }

    fn unsubscribe(&self, channel: &str) {
        self.me.channels.lock().remove(channel);
    }
}
