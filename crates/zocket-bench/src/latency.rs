//! Latencies: every task records into a small local buffer that is flushed into one of a few shared
//! histograms, so the hot path takes no lock and allocates nothing; [`Summary`] reads percentiles.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

/// Highest latency kept apart, in microseconds (larger values count as this).
const MAX_US: u64 = 120_000_000;
/// Values a [`Recorder`] buffers before it takes a shard's lock.
const BATCH: usize = 128;
/// Shards, so that tasks on different threads rarely wait on one another.
const SHARDS: usize = 8;

/// Shared latency histograms (microsecond resolution, 3 significant digits).
#[derive(Debug)]
pub(crate) struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Latencies {
    /// Empty histograms.
    pub(crate) fn new() -> Arc<Self> {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")))
            .collect();
        Arc::new(Self { shards })
    }

    /// A recorder for task number `task`.
    pub(crate) fn recorder(self: &Arc<Self>, task: usize) -> Recorder {
        Recorder {
            shared: Arc::clone(self),
            shard: task % SHARDS,
            buf: Vec::with_capacity(BATCH),
        }
    }

    /// Percentiles of everything flushed so far.
    pub(crate) fn summary(&self) -> Summary {
        let mut all = Histogram::<u64>::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds");
        for shard in &self.shards {
            all.add(&*shard.lock().unwrap()).expect("same bounds");
        }
        Summary::of(&all)
    }
}

/// Buffers latencies of one task; flushes when full and when dropped.
#[derive(Debug)]
pub(crate) struct Recorder {
    shared: Arc<Latencies>,
    shard: usize,
    buf: Vec<u64>,
}

impl Recorder {
    /// Records one latency in milliseconds (negative values count as 0).
    pub(crate) fn record(&mut self, ms: f64) {
        // `as` saturates: NaN and negatives become 0.
        self.buf.push((ms * 1000.0).round() as u64);
        if self.buf.len() == BATCH {
            self.flush();
        }
    }

    /// Moves the buffered values into the shared histogram.
    pub(crate) fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut h = self.shared.shards[self.shard].lock().unwrap();
        for v in self.buf.drain(..) {
            h.saturating_record(v);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Summary {
    /// How many values.
    pub(crate) count: u64,
    /// Mean.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Largest.
    pub(crate) max: f64,
}

impl Summary {
    /// Reads a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_ms() {
        let lat = Latencies::new();
        {
            let mut rec = lat.recorder(0);
            let mut other = lat.recorder(3);
            for i in 1..=1000 {
                if i % 2 == 0 { &mut rec } else { &mut other }.record(i as f64);
            }
        }
        let s = lat.summary();
        assert_eq!(s.count, 1000);
        assert!(close(s.p50, 500.0), "{s:?}");
        assert!(close(s.p90, 900.0), "{s:?}");
        assert!(close(s.p99, 990.0), "{s:?}");
        assert!(close(s.max, 1000.0), "{s:?}");
        assert!(close(s.mean, 500.5), "{s:?}");
    }

    #[test]
    fn values_stay_buffered_until_flushed_or_dropped() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(1);
        rec.record(2.5);
        assert_eq!(lat.summary().count, 0);
        rec.flush();
        let s = lat.summary();
        assert_eq!(s.count, 1);
        assert!(close(s.p50, 2.5), "{s:?}");
        rec.record(1.0);
        drop(rec);
        assert_eq!(lat.summary().count, 2);
    }

    #[test]
    fn negative_and_huge_latencies_are_clamped() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(0);
        rec.record(-3.0);
        rec.record(1e12);
        drop(rec);
        let s = lat.summary();
        assert_eq!(s.count, 2);
        assert_eq!(s.p50, 0.0);
        assert!(s.max >= 119_000.0, "{s:?}");
    }

    #[test]
    fn an_empty_summary_is_zero() {
        assert_eq!(Latencies::new().summary(), Summary::default());
    }
}
