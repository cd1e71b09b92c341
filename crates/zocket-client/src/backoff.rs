//! [`Backoff`]: how long to wait before each reconnection attempt.

use std::time::Duration;

/// Exponential backoff with jitter between reconnection attempts: attempt `n` waits
/// `min(max, initial × factor^(n-1))`, less up to `jitter` of it at random so that many clients
/// dropped at once do not come back at once. Defaults: 500 ms, growing ×2 to at most 10 s,
/// jitter 0.5, and no limit on attempts (the delays are bounded, not the patience).
///
/// ```
/// use std::time::Duration;
/// use zocket_client::Backoff;
///
/// let backoff = Backoff::default().initial(Duration::from_millis(100)).jitter(0.0).max_attempts(Some(5));
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(400));
/// assert_eq!(backoff.delay(30), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The first attempt's delay (before jitter).
    #[must_use]
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// The longest delay.
    #[must_use]
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// How much each delay grows over the previous one (at least 1).
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() { factor.max(1.0) } else { 1.0 };
        self
    }

    /// The fraction of each delay (0 to 1) taken off at random.
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Give up after this many failed attempts in a row (`None`: never). A client that gives
    /// up is closed: its calls fail with [`ClientError::Closed`](crate::ClientError::Closed).
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Whether attempt `attempt` (from 1) may be made.
    pub(crate) fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }

    /// The delay before attempt `attempt` (from 1), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = (self.initial.as_secs_f64() * self.factor.powi(exponent)).min(self.max.as_secs_f64());
        let cut = if self.jitter > 0.0 {
            self.jitter * rand::random::<f64>()
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 - cut)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_jitter_only_shortens() {
        let backoff = Backoff::default();
        for attempt in 1..40 {
            let full = (0.5 * 2f64.powi(attempt as i32 - 1)).min(10.0);
            for _ in 0..20 {
                let delay = backoff.delay(attempt).as_secs_f64();
                assert!(delay <= full + 1e-9 && delay >= full * 0.5 - 1e-9, "{attempt}: {delay}");
            }
        }
        assert!(backoff.allows(u32::MAX));
        let limited = Backoff::default().max_attempts(Some(2));
        assert!(limited.allows(2) && !limited.allows(3));
    }

    #[test]
    fn nonsense_settings_are_clamped() {
        let backoff = Backoff::default()
            .initial(Duration::from_secs(1))
            .factor(f64::NAN)
            .jitter(7.0);
        assert!(backoff.delay(5) <= Duration::from_secs(1));
        assert_eq!(
            Backoff::default()
                .factor(0.1)
                .jitter(0.0)
                .initial(Duration::from_secs(1))
                .delay(3),
            Duration::from_secs(1)
        );
    }
}
