//! Rate limiting per connection: a token bucket for messages (pings included), and a second
//! one for the refusals it answers, past which the connection simply stops being read.

use crate::RateLimit;
use std::time::Duration;
use tokio::time::Instant;

/// What to do with one message (or ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within the limit.
    Allow,
    /// Over the limit: refuse it (`RATE_LIMITED`; a ping goes unanswered).
    Refuse,
    /// Over the limit, and so many refusals were sent already that the client is flooding:
    /// refuse it and read nothing more from this connection until this instant, so TCP
    /// backpressure slows the client to the limit instead of the server paying for every
    /// message it sends.
    Throttle(Instant),
}

/// The limiter of one connection. Its buckets share the limit, kept once: every connection's
/// task holds this inline, so its size is paid per idle connection (56 bytes; 80 with the limit
/// in each bucket as floats).
#[derive(Debug)]
pub(crate) struct RateGuard {
    limit: RateLimit,
    messages: TokenBucket,
    refusals: TokenBucket,
}

impl RateGuard {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            messages: TokenBucket::new(limit),
            refusals: TokenBucket::new(limit),
        }
    }

    /// Counts one message or ping.
    pub(crate) fn check(&mut self) -> Verdict {
        if self.messages.take(self.limit) {
            Verdict::Allow
        } else if self.refusals.take(self.limit) {
            Verdict::Refuse
        } else {
            Verdict::Throttle(self.messages.next_token(self.limit))
        }
    }
}

/// Tokens of one bucket; its size and refill rate are the guard's limit.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }

    /// Takes a token; `false` when the bucket is empty.
    pub(crate) fn take(&mut self, limit: RateLimit) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(limit.per_second);
        self.tokens = (self.tokens + refill).min(f64::from(limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there (as of the last `take`).
    fn next_token(&self, limit: RateLimit) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.last + Duration::from_secs_f64(missing / f64::from(limit.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_flood_is_refused_then_throttled_until_the_next_token() {
        let mut guard = RateGuard::new(RateLimit::new(2, 10));
        let verdicts: Vec<Verdict> = (0..5).map(|_| guard.check()).collect();
        assert_eq!(
            &verdicts[..4],
            [Verdict::Allow, Verdict::Allow, Verdict::Refuse, Verdict::Refuse]
        );
        let Verdict::Throttle(until) = verdicts[4] else {
            panic!("a flood is throttled: {verdicts:?}")
        };
        assert_eq!(until - Instant::now(), Duration::from_millis(100), "one token at 10/s");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(guard.check(), Verdict::Allow, "reading resumes with a token");
    }

    #[test]
    fn a_guard_is_small() {
        assert!(
            std::mem::size_of::<RateGuard>() <= 56,
            "held by every connection's task"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn allows_bursts_then_refills() {
        let limit = RateLimit {
            burst: 3,
            per_second: 2,
        };
        let mut bucket = TokenBucket::new(limit);
        assert!((0..3).all(|_| bucket.take(limit)));
        assert!(!bucket.take(limit));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(bucket.take(limit));
        assert!(!bucket.take(limit));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            (0..10).filter(|_| bucket.take(limit)).count(),
            3,
            "refill is capped at the burst"
        );
    }
}
