//! When a sender may write to a client's socket itself (`outbox.rs`): for fan-outs of up to
//! [`MAX_DIRECT`] recipients and for each share of a larger one split over two threads
//! (`split.rs`), to a client not written to within [`gap`], and not while this thread already
//! spends most of its time writing directly.
//!
//! A direct write costs one `send` per frame on the sending thread. That beats waking each
//! recipient's connection while the server keeps up. It loses in two cases, measured in
//! `BENCHMARKS.md`:
//! - A large fan-out from one thread: it makes all its `send`s in a row, and the last recipient
//!   waits for all of them (1000 recipients: twice the p99 latency of queueing, where the
//!   recipients' connections write on every worker at once). Hence `split.rs`.
//! - A load the server cannot keep up with: a client's frames then wait in its queue while its
//!   connection is busy elsewhere, and the connection writes them all in one `send`. Direct
//!   writes never batch, and a server saturated by them delivers each client's frames far
//!   apart, so it stays saturated. So each thread measures the time its direct writes take, per
//!   [`WINDOW`]; past [`MOST`] of one, it queues for [`HOLD`], then tries again.
//!
//! The wall clock that measures a window also counts the time the thread waits for a core, so
//! a hold can engage under a load the server keeps up with (in the benchmarks, the generator
//! shares the cores). Queueing then batches nothing: each frame is taken by its connection
//! before the next one for that client comes, and costs it a wake. So while held, a thread
//! counts the frames of small fan-outs (up to [`MAX_DIRECT`]) it queues, and how many of them
//! found their client's queue holding another; if fewer than one in [`BATCHED`] did, the
//! thread's hold ends (for its large fan-outs too) at the next look, one [`WINDOW`] on. Under
//! overload most of them do. Large fan-outs' frames do not count: queueing them spreads their
//! writes over every worker's connections, which their tail latency needs whether or not frames
//! batch (`BENCHMARKS.md`), so a thread sending only large fan-outs keeps its hold.
//!
//! A hold on a thread writing a share of a large fan-out does not engage at all if the thread
//! blocked in that window (the system's count of its voluntary context switches, read when the
//! window starts and when it fills, less its waits for a split's helper): it had nothing to do
//! at times, so the window's wall clock counted time spent waiting for a core, not a backlog. In `broadcast` (1000
//! clients, 100 shouts/s) such holds queued whole seconds of fan-outs, each frame a wake of its
//! connection. A thread that is held does not split its large fan-outs (`split.rs`): they queue
//! whole, through the feed.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Fan-outs to more recipients than this queue every frame.
pub(crate) const MAX_DIRECT: usize = 256;

/// The span over which a thread's time in direct writes is measured.
const WINDOW: Duration = Duration::from_millis(100);

/// The share of a window past which a thread stops writing directly.
const MOST: Duration = Duration::from_millis(70);

/// While held, at least one in this many queued frames of small fan-outs must batch for the
/// hold to last.
const BATCHED: u32 = 8;

/// How long a thread queues once its direct writes took [`MOST`] of a window.
const HOLD: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Pace {
    /// When the current window ends.
    window_end: Instant,
    /// Time spent in direct writes in the current window.
    spent: Duration,
    /// Until when this thread queues instead.
    hold_until: Option<Instant>,
    /// While held: when to look at the two counts below next.
    check_at: Instant,
    /// While held: frames of small fan-outs queued since the last look, and how many of them
    /// found their client's queue holding another (so went out in the same `send`).
    queued: u32,
    batched: u32,
    /// This thread's voluntary context switches (times it blocked, having nothing to do) when
    /// the window began, where the system counts them, less its waits for a split's helper.
    switches: Option<i64>,
}

thread_local! {
    static PACE: Cell<Option<Pace>> = const { Cell::new(None) };
    /// This thread delivers a fan-out too large to write directly.
    static LARGE: Cell<bool> = const { Cell::new(false) };
    /// The recipients of the fan-out under way on this thread.
    static SIZE: Cell<usize> = const { Cell::new(0) };
    /// Waits of this thread for a split's helper so far (`split.rs`).
    static WAITS: Cell<i64> = const { Cell::new(0) };
    /// When the last direct write of the fan-out under way ended: the time the next one starts.
    /// So a fan-out reads the clock once per direct write, not twice (the clock and the
    /// arithmetic on it were a third of a direct delivery's instructions).
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The least time since a client's last write for a direct write to it: 1 ms, or what the
/// fan-out under way takes to write directly (3 us per recipient) if longer. Frames for one
/// client closer together than that mean its senders are behind (or it gets many), and its
/// connection then writes what queued meanwhile in one `send`, where direct writes would make a
/// `send` of each frame.
pub(crate) fn gap() -> Duration {
    Duration::from_millis(1).max(Duration::from_micros(3) * SIZE.get().min(100_000) as u32)
}

/// One delivery under way on this thread, from [`start`](Self::start) until dropped.
#[derive(Debug)]
pub(crate) struct FanOut {
    was_large: bool,
    size: usize,
}

impl FanOut {
    /// A delivery to about `recipients` clients.
    pub(crate) fn start(recipients: usize) -> Self {
        Self::enter(recipients > MAX_DIRECT, recipients)
    }

    /// A share of a split fan-out to `recipients` (`split.rs`), written directly whatever its
    /// size.
    pub(crate) fn share(recipients: usize) -> Self {
        Self::enter(false, recipients)
    }

    /// A fan-out to `recipients`, queued if `large`; it reads the clock afresh.
    fn enter(large: bool, recipients: usize) -> Self {
        LAST.set(None);
        Self {
            was_large: LARGE.replace(large),
            size: SIZE.replace(recipients),
        }
    }
}

impl Drop for FanOut {
    fn drop(&mut self) {
        // A fan-out this one interrupted reads the clock afresh.
        LAST.set(None);
        LARGE.set(self.was_large);
        SIZE.set(self.size);
    }
}

/// Whether this thread is held off direct writes now: a large fan-out then queues whole
/// instead of being split (`split.rs`).
pub(crate) fn held_now() -> bool {
    held(Instant::now())
}

/// Whether this thread may write directly at `now` (what [`allowed_now`] asks, at a given time).
#[cfg(test)]
fn allowed(now: Instant) -> bool {
    !LARGE.get() && !held(now)
}

/// The time now, if this thread may write directly now: a large fan-out asks without reading
/// the clock once per recipient, and a direct write after another takes the time the other
/// ended.
pub(crate) fn allowed_now() -> Option<Instant> {
    if LARGE.get() {
        return None;
    }
    let now = LAST.get().unwrap_or_else(Instant::now);
    (!held(now)).then_some(now)
}

/// Whether this thread is held off direct writes at `now`. A hold under which small fan-outs'
/// frames do not batch (fewer than one in [`BATCHED`] finds its client's queue holding another)
/// ends at the next look: the server keeps up, and queueing only costs each frame a wake.
fn held(now: Instant) -> bool {
    PACE.with(|cell| {
        let Some(mut pace) = cell.get() else {
            return false;
        };
        let Some(until) = pace.hold_until else {
            return false;
        };
        if now >= until {
            return false;
        }
        if now < pace.check_at {
            return true;
        }
        let batches = pace.queued == 0 || pace.batched.saturating_mul(BATCHED) >= pace.queued;
        pace = if batches {
            Pace {
                check_at: now + WINDOW,
                queued: 0,
                batched: 0,
                ..pace
            }
        } else {
            Pace::fresh(now)
        };
        cell.set(Some(pace));
        batches
    })
}

/// Counts a frame of a small fan-out queued while this thread is held; `batched` if its
/// client's queue already held another.
pub(crate) fn queued(batched: bool) {
    if !(1..=MAX_DIRECT).contains(&SIZE.get()) {
        return;
    }
    PACE.with(|cell| {
        if let Some(mut pace) = cell.get().filter(|pace| pace.hold_until.is_some()) {
            pace.queued = pace.queued.saturating_add(1);
            pace.batched = pace.batched.saturating_add(u32::from(batched));
            cell.set(Some(pace));
        }
    });
}

impl Pace {
    /// A window starting at `start`, no hold.
    fn fresh(start: Instant) -> Self {
        Self {
            window_end: start + WINDOW,
            spent: Duration::ZERO,
            hold_until: None,
            check_at: start,
            queued: 0,
            batched: 0,
            switches: idle_switches(),
        }
    }

    /// Whether this thread blocked since the window began, other than to wait for a split's
    /// helper: it then had time to spare, and the wall clock's time in direct writes counted
    /// time spent waiting for a core.
    fn idled(&self) -> bool {
        matches!((self.switches, idle_switches()), (Some(then), Some(now)) if now > then)
    }
}

/// Counts a wait of this thread for a split's helper (`split.rs`): a block that is not idleness.
pub(crate) fn waiting() {
    WAITS.set(WAITS.get() + 1);
}

/// This thread's voluntary context switches so far, less its waits for a split's helper.
fn idle_switches() -> Option<i64> {
    switches().map(|switches| switches - WAITS.get())
}

/// This thread's voluntary context switches so far (one `getrusage`, once per window).
#[cfg(all(target_os = "linux", not(test)))]
#[allow(clippy::useless_conversion, reason = "a `c_long` is an `i32` on 32-bit targets")]
fn switches() -> Option<i64> {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_THREAD)
        .ok()
        .map(|usage| i64::from(usage.voluntary_context_switches()))
}

/// Where the system does not count them, a thread is never known to have idled.
#[cfg(all(not(target_os = "linux"), not(test)))]
fn switches() -> Option<i64> {
    None
}

#[cfg(test)]
thread_local! {
    /// The tests' count of switches, which they move by hand.
    static SWITCHES: Cell<i64> = const { Cell::new(0) };
}

#[cfg(test)]
fn switches() -> Option<i64> {
    Some(SWITCHES.get())
}

/// Counts a direct write that took from `start` to `end`.
pub(crate) fn spent(start: Instant, end: Instant) {
    if SIZE.get() > 0 {
        LAST.set(Some(end));
    }
    PACE.with(|cell| {
        let mut pace = match cell.get() {
            Some(pace) if end < pace.window_end => pace,
            _ => Pace::fresh(start),
        };
        pace.spent += end.saturating_duration_since(start);
        if pace.spent >= MOST && SIZE.get() > MAX_DIRECT && pace.idled() {
            // Writing a share of a large fan-out, and the thread had nothing to do at times in
            // this window: not saturated. (Small fan-outs hold, and the hold ends at the next
            // look unless their frames batch: a thread that blocks now and then can still be
            // behind, and there the hold's batching is what catches up.)
            pace = Pace::fresh(end);
        } else if pace.spent >= MOST {
            pace.hold_until = Some(end + HOLD);
            pace.check_at = end + WINDOW;
            // The window after the hold starts afresh.
            pace.window_end = end + HOLD + WINDOW;
            pace.spent = Duration::ZERO;
        }
        cell.set(Some(pace));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_busy_with_direct_writes_queues_for_a_while() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            let ms = Duration::from_millis;
            assert!(allowed(t0));
            // 60 ms of writes in a window: still allowed.
            spent(t0, t0 + ms(60));
            assert!(allowed(t0 + ms(60)));
            // A new window forgets the last one.
            spent(t0 + ms(110), t0 + ms(160));
            assert!(allowed(t0 + ms(160)));
            // Past most of a window: held.
            spent(t0 + ms(160), t0 + ms(190));
            let held = t0 + ms(190);
            assert!(!allowed(held));
            assert!(!allowed(held + HOLD - ms(1)));
            assert!(allowed(held + HOLD));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_that_idled_while_writing_large_fan_outs_is_not_held() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            let ms = Duration::from_millis;
            let share = FanOut::share(MAX_DIRECT + 1);
            spent(t0, t0 + ms(10));
            // It blocked once (it had nothing to do), then the clock counted most of the
            // window in direct writes, time spent waiting for a core among it.
            SWITCHES.set(SWITCHES.get() + 1);
            spent(t0 + ms(10), t0 + ms(80));
            assert!(allowed(t0 + ms(80)));
            // Waits for a split's helper are not idleness: the next window is held.
            SWITCHES.set(SWITCHES.get() + 1);
            waiting();
            spent(t0 + ms(80), t0 + ms(160));
            assert!(!allowed(t0 + ms(160)));
            assert!(super::held(t0 + ms(160)));
            drop(share);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_that_idled_while_writing_small_fan_outs_is_held() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            let _small = FanOut::start(10);
            SWITCHES.set(SWITCHES.get() + 1);
            spent(t0, t0 + MOST);
            assert!(!allowed(t0 + MOST), "the batching rule decides there");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_direct_write_after_another_starts_when_the_other_ended() {
        std::thread::spawn(|| {
            let fan_out = FanOut::start(10);
            let t0 = Instant::now();
            // Ahead of the clock, so the time taken is told apart from one read.
            let end = t0 + Duration::from_millis(50);
            spent(t0, end);
            assert_eq!(allowed_now(), Some(end));
            drop(fan_out);
            assert!(
                allowed_now().is_some_and(|now| now < end),
                "the next fan-out reads the clock"
            );
            let _next = FanOut::start(10);
            assert!(allowed_now().is_some_and(|now| now < end));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_gap_grows_with_the_fan_out() {
        std::thread::spawn(|| {
            assert_eq!(gap(), Duration::from_millis(1));
            let large = FanOut::share(1000);
            assert_eq!(gap(), Duration::from_millis(3));
            assert!(allowed_now().is_some(), "a share is written directly");
            drop(large);
            let _small = FanOut::start(10);
            assert_eq!(gap(), Duration::from_millis(1));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_large_fan_out_queues() {
        std::thread::spawn(|| {
            let now = Instant::now();
            let small = FanOut::start(MAX_DIRECT);
            assert!(allowed(now));
            {
                let _large = FanOut::start(MAX_DIRECT + 1);
                assert!(!allowed(now));
                assert!(allowed_now().is_none());
            }
            assert!(allowed(now), "the small one goes on");
            assert!(allowed_now().is_some());
            drop(small);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_hold_under_which_small_fan_outs_do_not_batch_ends_at_the_next_look() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            let _small = FanOut::start(10);
            spent(t0, t0 + MOST);
            let held = t0 + MOST;
            assert!(!allowed(held));
            for _ in 0..10 {
                queued(false);
            }
            queued(true);
            assert!(
                !allowed(held + WINDOW - Duration::from_millis(1)),
                "held until the look"
            );
            assert!(allowed(held + WINDOW), "1 frame in 11 batched: the hold ends");
            assert!(allowed(held + WINDOW + Duration::from_millis(1)));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_hold_under_which_small_fan_outs_batch_lasts() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            let _small = FanOut::start(10);
            spent(t0, t0 + MOST);
            let held = t0 + MOST;
            for _ in 0..4 {
                queued(false);
                queued(true);
            }
            assert!(!allowed(held + WINDOW), "half of them batched: held");
            assert!(!allowed(held + WINDOW * 2), "nothing queued since: still held");
            assert!(allowed(held + HOLD));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn frames_of_large_fan_outs_do_not_end_a_hold() {
        std::thread::spawn(|| {
            let t0 = Instant::now();
            {
                let _share = FanOut::share(MAX_DIRECT + 1);
                spent(t0, t0 + MOST);
            }
            let held = t0 + MOST;
            let _large = FanOut::start(MAX_DIRECT + 1);
            for _ in 0..10 {
                queued(false);
            }
            assert!(super::held(held + WINDOW), "a large fan-out's frames are not counted");
        })
        .join()
        .unwrap();
    }
}
