//! One process-wide monotonic clock in milliseconds: a timestamp one task puts into a shout can be
//! compared with the time another task receives it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The instant the clock counts from (fixed at its first use).
pub(crate) fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since [`epoch`].
pub(crate) fn now_ms() -> f64 {
    epoch().elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds since the Unix epoch on the system's wall clock: one clock for every process on
/// the machine, so a shout sent by one generator can be timed where another receives it.
pub(crate) fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

/// The tokio instant at `ms` on this clock.
pub(crate) fn instant_at(ms: f64) -> tokio::time::Instant {
    (epoch() + Duration::from_secs_f64(ms.max(0.0) / 1000.0)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_round_trips_instants() {
        let a = now_ms();
        std::thread::sleep(Duration::from_millis(5));
        let b = now_ms();
        assert!(b - a >= 5.0, "{a} -> {b}");
        let at = instant_at(b);
        let back = at.into_std().duration_since(epoch()).as_secs_f64() * 1000.0;
        assert!((back - b).abs() < 0.001, "{back} vs {b}");
    }

    #[test]
    fn the_wall_clock_is_in_milliseconds_since_1970() {
        let a = wall_ms();
        std::thread::sleep(Duration::from_millis(5));
        let b = wall_ms();
        assert!(b - a >= 5.0 && b - a < 5_000.0, "{a} -> {b}");
        // 2020-09-13 onwards: 1.6e12 ms.
        assert!(a > 1.6e12, "{a}");
    }
}
