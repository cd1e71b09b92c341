//! A token bucket per connection.

use crate::RateLimit;
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            capacity: f64::from(limit.burst),
            per_second: f64::from(limit.per_second),
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }

    /// Takes a token; `false` when the bucket is empty.
    pub(crate) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn allows_bursts_then_refills() {
        let mut bucket = TokenBucket::new(RateLimit {
            burst: 3,
            per_second: 2,
        });
        assert!((0..3).all(|_| bucket.take()));
        assert!(!bucket.take());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(bucket.take());
        assert!(!bucket.take());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            (0..10).filter(|_| bucket.take()).count(),
            3,
            "refill is capped at the burst"
        );
    }
}
