//! [`Config`]: limits and timings of every connection. The defaults suit most apps.

use std::time::Duration;

/// Limits and timings applied to every connection of a server.
///
/// Built from the defaults with one setter per limit, so new limits are never a breaking change:
///
/// ```
/// use std::time::Duration;
/// use zocket::{Config, RateLimit};
/// let config = Config::default()
///     .rate_limit(Some(RateLimit::new(50, 20)))
///     .write_timeout(Duration::from_secs(5));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest message a client may send, in bytes. A larger one, up to twice this size,
    /// gets a `PAYLOAD_TOO_LARGE` error and the connection stays open; anything larger closes
    /// the connection with code 1009 without being read. Default 1 MiB.
    pub(crate) max_message_size: usize,
    /// How many calls of one connection may run at once; past it the server stops reading
    /// that connection until one finishes. Default 256.
    pub(crate) max_in_flight: usize,
    /// How many bytes of messages one connection may have in flight (read, not yet answered);
    /// past it the server stops reading that connection until calls finish. Default 8 MiB.
    pub(crate) max_in_flight_bytes: usize,
    /// How many frames may wait to be written to one client. A client that lets its queue
    /// fill up is disconnected with code 1013, never buffered without limit. Default 1024.
    pub(crate) outbound_queue: usize,
    /// How long one write to a client may take before it counts as dead. Default 10 s.
    pub(crate) write_timeout: Duration,
    /// Messages a client may send per second, with bursts; `None` turns the limit off.
    /// A message over the limit gets a `RATE_LIMITED` error. Default 1000/s, bursts of 1000.
    pub(crate) rate_limit: Option<RateLimit>,
    /// How many rooms one client may be in at once; a join past it fails with `FORBIDDEN`.
    /// Default 256.
    pub(crate) max_rooms_per_client: usize,
    /// Server pings to find dead connections; `None` turns them off. Default: a ping every
    /// 30 s, and a client silent for 75 s is closed.
    pub(crate) heartbeat: Option<Heartbeat>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 1024 * 1024,
            max_in_flight: 256,
            max_in_flight_bytes: 8 * 1024 * 1024,
            outbound_queue: 1024,
            write_timeout: Duration::from_secs(10),
            rate_limit: Some(RateLimit {
                burst: 1000,
                per_second: 1000,
            }),
            max_rooms_per_client: 256,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(75),
            }),
        }
    }
}

impl Config {
    /// The largest message a client may send, in bytes. A larger one, up to twice this size,
    /// gets a `PAYLOAD_TOO_LARGE` error and the connection stays open; anything larger closes
    /// the connection with code 1009 without being read. Default 1 MiB.
    #[must_use]
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// How many calls of one connection may run at once; past it the server stops reading
    /// that connection until one finishes. Default 256.
    #[must_use]
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// How many bytes of messages one connection may have in flight (read, not yet answered);
    /// past it the server stops reading that connection until calls finish. Default 8 MiB.
    #[must_use]
    pub fn max_in_flight_bytes(mut self, max_in_flight_bytes: usize) -> Self {
        self.max_in_flight_bytes = max_in_flight_bytes;
        self
    }

    /// How many frames may wait to be written to one client. A client that lets its queue
    /// fill up is disconnected with code 1013, never buffered without limit. Default 1024.
    #[must_use]
    pub fn outbound_queue(mut self, outbound_queue: usize) -> Self {
        self.outbound_queue = outbound_queue;
        self
    }

    /// How long one write to a client may take before it counts as dead. Default 10 s.
    #[must_use]
    pub fn write_timeout(mut self, write_timeout: Duration) -> Self {
        self.write_timeout = write_timeout;
        self
    }

    /// Messages a client may send per second, with bursts; `None` turns the limit off.
    /// A message over the limit gets a `RATE_LIMITED` error. Default 1000/s, bursts of 1000.
    #[must_use]
    pub fn rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// How many rooms one client may be in at once; a join past it fails with `FORBIDDEN`.
    /// Default 256.
    #[must_use]
    pub fn max_rooms_per_client(mut self, max_rooms_per_client: usize) -> Self {
        self.max_rooms_per_client = max_rooms_per_client;
        self
    }

    /// Server pings to find dead connections; `None` turns them off. Default: a ping every
    /// 30 s, and a client silent for 75 s is closed.
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Panics on values that cannot work: zero sizes, an empty rate limit, a zero heartbeat.
    #[track_caller]
    pub(crate) fn check(&self) {
        let positive = [
            ("max_message_size", self.max_message_size),
            ("max_in_flight", self.max_in_flight),
            ("max_in_flight_bytes", self.max_in_flight_bytes),
            ("outbound_queue", self.outbound_queue),
            ("max_rooms_per_client", self.max_rooms_per_client),
        ];
        for (name, value) in positive {
            assert!(value > 0, "zocket: Config::{name} must be at least 1");
        }
        assert!(
            !self.write_timeout.is_zero(),
            "zocket: Config::write_timeout must not be zero"
        );
        if let Some(rate) = self.rate_limit {
            assert!(
                rate.burst > 0 && rate.per_second > 0,
                "zocket: a RateLimit needs a burst and a rate of at least 1"
            );
        }
        if let Some(beat) = self.heartbeat {
            assert!(
                !beat.interval.is_zero() && !beat.timeout.is_zero(),
                "zocket: a Heartbeat needs a non-zero interval and timeout"
            );
        }
    }
}

/// A token bucket: `burst` messages at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// How many messages may arrive back to back.
    pub burst: u32,
    /// How many messages per second are allowed over time.
    pub per_second: u32,
}

/// When to ping and when to give up on a silent client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heartbeat {
    /// Time between pings.
    pub interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed with code 1001.
    pub timeout: Duration,
}

impl RateLimit {
    /// `burst` messages back to back, `per_second` over time.
    pub fn new(burst: u32, per_second: u32) -> Self {
        Self { burst, per_second }
    }
}

impl Heartbeat {
    /// A ping every `interval`; a client silent for `timeout` is closed.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self { interval, timeout }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_the_check() {
        Config::default().check();
    }

    #[test]
    #[should_panic(expected = "non-zero interval")]
    fn a_zero_heartbeat_is_refused() {
        let heartbeat = Some(Heartbeat::new(Duration::ZERO, Duration::from_secs(1)));
        Config::default().heartbeat(heartbeat).check();
    }

    #[test]
    #[should_panic(expected = "outbound_queue must be at least 1")]
    fn an_empty_queue_is_refused() {
        Config::default().outbound_queue(0).check();
    }
}
