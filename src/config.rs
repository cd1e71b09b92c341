//! [`Config`]: limits and timings of every connection. The defaults suit most apps.

use crate::Compression;
use std::time::Duration;

/// The longest [`Config::broadcast_linger`].
const MAX_LINGER: Duration = Duration::from_secs(1);

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
    /// How many bytes of frames may wait to be written to one client. Default 8 MiB.
    pub(crate) outbound_queue_bytes: usize,
    /// How long a connected socket may take to send its HTTP request head. Default 10 s.
    pub(crate) header_read_timeout: Duration,
    /// How long `on_connect` may run. Default 10 s.
    pub(crate) on_connect_timeout: Duration,
    /// How long `on_disconnect` may run. Default 10 s.
    pub(crate) on_disconnect_timeout: Duration,
    /// How many WebSocket connections may be open at once. Default 10 000.
    pub(crate) max_connections: usize,
    /// How long one message may take to arrive once its first byte has. Default 30 s.
    pub(crate) message_timeout: Duration,
    /// The origins a browser may connect from (normalized); `None` allows every origin.
    pub(crate) allowed_origins: Option<Vec<String>>,
    /// permessage-deflate (RFC 7692), if offered by clients; `None` (the default) turns it off.
    pub(crate) compression: Option<Compression>,
    /// Session resume after a dropped connection; `None` (the default) turns it off.
    pub(crate) resume: Option<Resume>,
    /// How long a client behind a flood of broadcasts waits before it takes more of them;
    /// zero turns it off. Default 25 ms.
    pub(crate) broadcast_linger: Duration,
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
            outbound_queue_bytes: 8 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            on_connect_timeout: Duration::from_secs(10),
            on_disconnect_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            message_timeout: Duration::from_secs(30),
            allowed_origins: None,
            compression: None,
            resume: None,
            broadcast_linger: Duration::from_millis(25),
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
    ///
    /// The server's feed of broadcasts that queue under load keeps as many (once for all
    /// clients): a client more broadcasts behind than this is disconnected the same way.
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

    /// Session resume after a dropped connection (`docs/resume.md`); `None`, the default,
    /// turns it off, and then the wire and behaviour are exactly as without it.
    ///
    /// With it on, every event a client receives carries a sequence number (`"seq"`), the
    /// first frame of every connection is a `__session` frame with a single-use token, and a
    /// client that loses its connection without closing it may come back within the window
    /// (query parameters `__session` and `__seq`) to the same context and rooms, with every
    /// event it missed replayed in order, without `on_connect` running again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zocket::{Config, Resume};
    /// let config = Config::default().resume(Some(Resume::new(Duration::from_secs(30), 1 << 20)));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn resume(mut self, resume: Option<Resume>) -> Self {
        self.resume = resume;
        self
    }

    /// How many bytes of frames may wait to be written to one client, on top of the frame
    /// count of [`outbound_queue`](Self::outbound_queue): a client that stops reading large
    /// messages is disconnected with code 1013 once this much waits for it, so it cannot pin
    /// the server's memory. A single message larger than this is still queued for a client
    /// with nothing waiting. Default 8 MiB.
    #[must_use]
    pub fn outbound_queue_bytes(mut self, outbound_queue_bytes: usize) -> Self {
        self.outbound_queue_bytes = outbound_queue_bytes;
        self
    }

    /// How long a connected socket may take to send its HTTP request head (the upgrade
    /// request), and how long a kept-alive HTTP connection may sit idle before its next one.
    /// A slower socket is closed, so sockets that trickle a request byte by byte (slowloris)
    /// cannot pile up. Applies to [`serve`](crate::serve); an app that mounts the endpoint into
    /// its own HTTP server sets its own. Default 10 s.
    #[must_use]
    pub fn header_read_timeout(mut self, header_read_timeout: Duration) -> Self {
        self.header_read_timeout = header_read_timeout;
        self
    }

    /// How long `on_connect` may take; past it the client gets HTTP 503
    /// `{"error": "Connection setup timed out"}` and no context is kept. Default 10 s.
    #[must_use]
    pub fn on_connect_timeout(mut self, on_connect_timeout: Duration) -> Self {
        self.on_connect_timeout = on_connect_timeout;
        self
    }

    /// How long `on_disconnect` may take; past it the hook is dropped (and a warning logged),
    /// so a hook that hangs cannot keep a graceful shutdown waiting forever. Default 10 s.
    #[must_use]
    pub fn on_disconnect_timeout(mut self, on_disconnect_timeout: Duration) -> Self {
        self.on_disconnect_timeout = on_disconnect_timeout;
        self
    }

    /// How many WebSocket connections may be open at once (counted from the upgrade request
    /// that passed its checks until the connection's `on_disconnect` has run). One more gets
    /// HTTP 503 `{"error": "Server is full"}` before any upgrade. Default 10 000.
    #[must_use]
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// How long one message may take to arrive once its first byte has, across all of its
    /// fragments: a client that starts a message and then trickles it (holding its buffer) is
    /// closed with code 1008. Default 30 s, enough for the largest message at 64 KiB/s.
    #[must_use]
    pub fn message_timeout(mut self, message_timeout: Duration) -> Self {
        self.message_timeout = message_timeout;
        self
    }

    /// The origins browsers may connect from, such as `"https://app.example"` (scheme, host and
    /// port; a default port may be left out; `"null"` for sandboxed pages). An upgrade whose
    /// `Origin` header is not listed gets HTTP 403 `{"error": "Origin not allowed"}` before any
    /// upgrade, which stops other sites' pages from opening WebSockets with your users' cookies
    /// (cross-site WebSocket hijacking). A request without an `Origin` header is not from a
    /// browser page and is allowed: authenticate such clients in `on_connect`. Default: every
    /// origin is allowed. Panics on an entry that is not an origin.
    ///
    /// ```
    /// let config = zocket::Config::default().allowed_origins(["https://app.example", "http://localhost:3000"]);
    /// # let _ = config;
    /// ```
    #[must_use]
    #[track_caller]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins.into_iter().map(|origin| {
            let origin = origin.as_ref();
            normalize_origin(origin).unwrap_or_else(|| panic!("zocket: {origin:?} is not an origin"))
        });
        self.allowed_origins = Some(origins.collect());
        self
    }

    /// permessage-deflate (RFC 7692): with `Some`, a client that offers it (every browser does)
    /// gets its messages of at least [`threshold`](Compression::threshold) bytes compressed, and
    /// may send compressed messages, whose inflated size counts against
    /// [`max_message_size`](Self::max_message_size) (a message that inflates past the limit
    /// closes the connection with 1009 and is never allocated). A client that offers nothing
    /// sees no difference. With [`no_context_takeover`](Compression::no_context_takeover) (the
    /// default) a connection keeps no compression state between messages and a broadcast is
    /// compressed once for all its recipients. Default `None`: off.
    ///
    /// ```
    /// use zocket::{Compression, Config};
    /// let config = Config::default().compression(Some(Compression::default().threshold(1024)));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn compression(mut self, compression: Option<Compression>) -> Self {
        self.compression = compression;
        self
    }

    /// Allows upgrades from every origin (the default), undoing
    /// [`allowed_origins`](Self::allowed_origins).
    #[must_use]
    pub fn allow_any_origin(mut self) -> Self {
        self.allowed_origins = None;
        self
    }

    /// How long a client behind a flood of broadcasts (to everyone, to rooms or to listed
    /// clients) waits before it takes more of them, so that each write to it carries more
    /// frames. Zero turns it off. Default 25 ms.
    ///
    /// When broadcasts come faster than the server writes them out, each client's connection
    /// writes the ones that came since its last write together, in one `send`. A `send` costs
    /// far more than the bytes it carries, so the fewer each carries, the more CPU each delivery
    /// costs, and the server stays saturated with every client behind. A connection that caught
    /// up with a backlog (8 or more frames in one take) waits this long before its next take,
    /// meanwhile still reading, answering calls (a reply takes everything queued before it,
    /// broadcasts too) and pinging. Measured at 1000 clients and 1000 or 3000 broadcasts to
    /// everyone per second, 25 ms cut the server's CPU per delivery by 30-40%, and at 3000
    /// sends a second to rooms of 250 by 20-25%, and lowered the p99 latency too
    /// (`BENCHMARKS.md`): it is the delay a client may see on top of the network's under such a
    /// flood. A client whose frames never pile up never waits, nor does one whose backlog fills
    /// more than a quarter of its queue (it would risk being closed as too slow). But a client
    /// that lingers keeps lingering while 8 or more frames come to it per linger (320 a second
    /// at 25 ms), even once the server could keep up without it: at such rates its frames wait
    /// up to the linger (measured: a room of 100 at 2000 sends a second, 1.6× the deliveries
    /// per CPU-second, p99 32 ms instead of 17). Where each frame's latency matters more than
    /// the server's CPU at such rates, shorten it or turn it off.
    /// At most 1 s (building the server panics on more).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zocket::Config;
    /// // Every broadcast as soon as the server can write it, at the cost of more CPU under a
    /// // flood of them.
    /// let config = Config::default().broadcast_linger(Duration::ZERO);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn broadcast_linger(mut self, broadcast_linger: Duration) -> Self {
        self.broadcast_linger = broadcast_linger;
        self
    }

    /// Whether an upgrade with this `Origin` header value may proceed.
    pub(crate) fn origin_allowed(&self, origin: &[u8]) -> bool {
        let Some(allowed) = &self.allowed_origins else {
            return true;
        };
        let Some(origin) = std::str::from_utf8(origin).ok().and_then(normalize_origin) else {
            return false;
        };
        allowed.contains(&origin)
    }

    /// Panics on values that cannot work: zero sizes, an empty rate limit, a zero heartbeat.
    #[track_caller]
    pub(crate) fn check(&self) {
        let positive = [
            ("max_message_size", self.max_message_size),
            ("max_in_flight", self.max_in_flight),
            ("max_in_flight_bytes", self.max_in_flight_bytes),
            ("outbound_queue", self.outbound_queue),
            ("outbound_queue_bytes", self.outbound_queue_bytes),
            ("max_rooms_per_client", self.max_rooms_per_client),
            ("max_connections", self.max_connections),
        ];
        for (name, value) in positive {
            assert!(value > 0, "zocket: Config::{name} must be at least 1");
        }
        let durations = [
            ("write_timeout", self.write_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("on_connect_timeout", self.on_connect_timeout),
            ("on_disconnect_timeout", self.on_disconnect_timeout),
            ("message_timeout", self.message_timeout),
        ];
        for (name, value) in durations {
            assert!(!value.is_zero(), "zocket: Config::{name} must not be zero");
        }
        assert!(
            self.broadcast_linger <= MAX_LINGER,
            "zocket: Config::broadcast_linger must be at most {MAX_LINGER:?}"
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
        if let Some(resume) = self.resume {
            assert!(
                !resume.window.is_zero() && resume.max_bytes > 0,
                "zocket: a Resume needs a non-zero window and byte budget"
            );
        }
    }
}

/// An origin as browsers serialize it (`scheme://host[:port]`, lower case, default port left
/// out), or `None` if `origin` is not one. `"null"` (sandboxed or local pages) stays as is.
fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin == "null" {
        return Some(origin);
    }
    let (scheme, authority) = origin.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority_ok = !authority.is_empty()
        && !authority.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control() || "/?#@".contains(c));
    if !scheme_ok || !authority_ok {
        return None;
    }
    let default_port = match scheme {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    Some(match default_port.and_then(|port| authority.strip_suffix(port)) {
        Some(host) => format!("{scheme}://{host}"),
        None => origin,
    })
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

/// How long a dropped session waits for its client, and how much it may keep meanwhile.
///
/// A session whose connection is lost without a close frame (the network went away, a
/// heartbeat timed out) is parked for `window`: it stays in its rooms and keeps every event
/// sent to it, up to `max_bytes`, for its client to resume. Each client keeps up to
/// `max_bytes` of its most recent events even while connected (the events it may not have
/// received when its connection drops), so the budget is also a per-connection memory cost.
///
/// ```
/// use std::time::Duration;
/// use zocket::Resume;
/// // Two minutes to come back; up to 1 MiB of events kept per session.
/// let resume = Resume::new(Duration::from_secs(120), 1024 * 1024);
/// assert_eq!(resume.window, Duration::from_secs(120));
/// assert_eq!(resume.max_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resume {
    /// How long a parked session waits for its client before it ends (`on_disconnect` runs).
    pub window: Duration,
    /// How many bytes of events one session keeps for a replay at most. A parked session
    /// that is sent more ends at once: its client gets a fresh session, never a partial replay.
    pub max_bytes: usize,
}

impl Resume {
    /// Parked sessions wait `window` for their client, keeping up to `max_bytes` of events.
    pub fn new(window: Duration, max_bytes: usize) -> Self {
        Self { window, max_bytes }
    }
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
    fn origins_match_as_browsers_send_them() {
        let config = Config::default().allowed_origins(["HTTPS://App.Example:443/", "http://localhost:3000", "null"]);
        assert!(config.origin_allowed(b"https://app.example"));
        assert!(config.origin_allowed(b"http://localhost:3000"));
        assert!(config.origin_allowed(b"null"));
        for refused in [
            &b"https://evil.example"[..],
            b"https://app.example.evil.example",
            b"http://app.example",
            b"http://localhost:3001",
            b"",
            b"\xff",
            b"https://app.example/path",
        ] {
            assert!(
                !config.origin_allowed(refused),
                "{:?}",
                String::from_utf8_lossy(refused)
            );
        }
        assert!(Config::default().origin_allowed(b"https://anything.example"));
        assert!(config.allow_any_origin().origin_allowed(b"https://evil.example"));
    }

    #[test]
    #[should_panic(expected = "is not an origin")]
    fn a_url_with_a_path_is_not_an_origin() {
        let _ = Config::default().allowed_origins(["https://app.example/login"]);
    }

    #[test]
    #[should_panic(expected = "message_timeout must not be zero")]
    fn a_zero_message_timeout_is_refused() {
        Config::default().message_timeout(Duration::ZERO).check();
    }

    #[test]
    #[should_panic(expected = "outbound_queue must be at least 1")]
    fn an_empty_queue_is_refused() {
        Config::default().outbound_queue(0).check();
    }

    #[test]
    #[should_panic(expected = "broadcast_linger must be at most 1s")]
    fn a_linger_past_a_second_is_refused() {
        Config::default().broadcast_linger(Duration::MAX).check();
    }

    #[test]
    fn a_linger_of_a_second_or_none_is_accepted() {
        Config::default().broadcast_linger(Duration::from_secs(1)).check();
        Config::default().broadcast_linger(Duration::ZERO).check();
    }
}
