//! [`Shared`]: everything the connections of one server share.

use crate::call::App;
use crate::hooks::{OnConnect, OnDisconnect, OnMove};
use crate::lifecycle::Lifecycle;
use crate::router::Endpoint;
use crate::{Config, Handle};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The routes by name, hashed with FNV-1a rather than SipHash (a third of the cost, 1% of a
/// call). The table is built once and never grows, so names a client chooses cannot make it
/// slower: a lookup compares at most the few names that share its slot group.
pub(crate) type Routes<O, C, S> = HashMap<Box<str>, Route<O, C, S>, BuildHasherDefault<Fnv>>;

/// The 64-bit FNV-1a hash.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A route in the table the connections dispatch on.
pub(crate) struct Route<O, C, S> {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint: Endpoint<O, C, S>,
    /// Its calls, counted by outcome.
    pub(crate) metrics: Arc<crate::metrics::RouteMetrics>,
}

/// Everything the connections of one server share.
pub(crate) struct Shared<H, O, C, S> {
    pub(crate) app: Arc<App<S>>,
    pub(crate) routes: Routes<O, C, S>,
    pub(crate) on_connect: OnConnect<H, C, S>,
    pub(crate) on_disconnect: Option<OnDisconnect<O, C, S>>,
    /// Told of sessions that moved to or from this node.
    pub(crate) on_move: Option<OnMove<O, C, S>>,
    pub(crate) config: Config,
    pub(crate) lifecycle: Lifecycle,
    /// The sessions that can be resumed, if resume is on.
    pub(crate) sessions: Option<super::Sessions<C>>,
}

impl<H, O, C, S> Shared<H, O, C, S> {
    /// A handle on this server.
    pub(crate) fn handle(&self) -> Handle<O> {
        Handle::new(self.app.hub.clone(), self.lifecycle.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_1a_as_published() {
        let hash = |bytes: &[u8]| {
            let mut fnv = Fnv::default();
            fnv.write(bytes);
            fnv.finish()
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
