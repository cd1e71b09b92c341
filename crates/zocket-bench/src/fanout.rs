//! The `broadcast` and `rooms` scenarios: senders shout at a steady rate, every client counts the
//! `bench.shouted` frames it receives, checks their room and records the delay since `ts`.
//!
//! broadcast: client 0 sends `bench.shout`; every client, the sender included, should get each one.
//! rooms: client `i` joins room `room{i % rooms}`; client `r` (a member of room `r`) sends
//! `bench.roomShout` to its room, each shout's `data` naming the room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::args::Args;
use crate::clock::{instant_at, now_ms};
use crate::conn::{self, Target, Ws};
use crate::frame::{self, Codec, Kind, Value};
use crate::latency::{Latencies, Recorder};
use crate::report::{Outcome, Probe, Usage};

/// After sending, how long the received count may stand still before late deliveries are given up.
const QUIET_MS: f64 = 1000.0;
/// The `data` of broadcast shouts.
const ALL: &str = "all";

/// The room client `i` joins.
fn room_of(i: usize, rooms: usize) -> String {
    format!("room{}", i % rooms)
}

/// One receiving client's counts.
#[derive(Debug, Default)]
struct Stats {
    /// Correct deliveries.
    received: u64,
    /// Deliveries of another room's shouts.
    wrong: u64,
    errors: u64,
    disconnects: u64,
    /// When the last delivery arrived (ms).
    last_ms: f64,
}

/// Runs `broadcast` (`rooms` is `None`) or `rooms`.
pub(crate) async fn run(
    args: &Args,
    targets: &[Target],
    probe: &Probe,
    rooms: Option<usize>,
) -> Result<(Outcome, Usage), String> {
    let n = args.clients;
    let codec = targets[0].codec;
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let setup_start = now_ms();
    let conns = conn::open_all(n, args.concurrency, "connections", |i| async move {
        // Spread over the nodes; client 0 (the broadcast sender) on the first.
        let mut ws = targets[i % targets.len()].connect().await?;
        if let Some(rooms) = rooms {
            let room = room_of(i, rooms);
            let join = frame::encode(codec, "bench.join", &[("room", Value::Str(&room))], Some("join"));
            let reply = conn::call(&mut ws, codec, join, "join", timeout).await?;
            if !reply.is_true {
                return Err(format!("bench.join replied {reply:?}, not true"));
            }
        }
        Ok(ws)
    })
    .await?;
    let setup_s = (now_ms() - setup_start) / 1000.0;

    let senders = rooms.unwrap_or(1);
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let latencies = Latencies::new();
    let mut sinks = Vec::with_capacity(senders);
    let mut tasks = Vec::with_capacity(n);
    for (i, ws) in conns.into_iter().enumerate() {
        let room = rooms.map(|rooms| room_of(i, rooms));
        let rx = Receiver {
            codec,
            room: room.clone(),
            rec: latencies.recorder(i),
            received: Arc::clone(&received),
            stop: stop_rx.clone(),
        };
        if i < senders {
            let (sink, stream): (SplitSink<Ws, Message>, SplitStream<Ws>) = ws.split();
            sinks.push(Sender { sink, room, sent: 0 });
            tasks.push(tokio::spawn(rx.run(stream)));
        } else {
            tasks.push(tokio::spawn(rx.run(ws)));
        }
    }

    let t0 = now_ms() + 200.0;
    let t_end = t0 + args.duration * 1000.0;
    tokio::time::sleep_until(instant_at(t0)).await;
    let window = probe.start();
    eprintln!(
        "{}: {} clients, {} shouts/s for {} s",
        args.scenario.name(),
        n,
        args.rate,
        args.duration
    );
    let send_errors = pace(&mut sinks, codec, args.rate, t0, t_end).await;

    let members = |sender: usize| match rooms {
        None => n as u64,
        Some(rooms) => (0..n).filter(|i| i % rooms == sender).count() as u64,
    };
    let sent: u64 = sinks.iter().map(|s| s.sent).sum();
    let expected: u64 = sinks.iter().enumerate().map(|(k, s)| s.sent * members(k)).sum();
    drain(&received, expected, t_end, args.drain).await;
    let usage = probe.finish(window);

    stop_tx.send_replace(true);
    let mut out = Outcome {
        unit: Some("deliveries/s"),
        expected: Some(expected),
        sent: Some(sent),
        errors: send_errors,
        connections: n,
        setup_s,
        ..Outcome::default()
    };
    let mut last_ms = t0;
    for task in tasks {
        let stats = task.await.map_err(|e| format!("a client task failed: {e}"))?;
        out.count += stats.received;
        out.wrong += stats.wrong;
        out.errors += stats.errors;
        out.disconnects += stats.disconnects;
        last_ms = last_ms.max(stats.last_ms);
    }
    drop(sinks);
    out.lost = expected.saturating_sub(out.count);
    out.window_s = (last_ms - t0) / 1000.0;
    out.latency = latencies.summary();
    Ok((out, usage))
}

/// Waits until `expected` deliveries arrived, the count stood still for [`QUIET_MS`], or `drain`
/// seconds passed since sending ended.
async fn drain(received: &AtomicU64, expected: u64, t_end: f64, drain: f64) {
    let give_up = t_end + drain * 1000.0;
    let mut last = received.load(Ordering::Relaxed);
    let mut last_change = now_ms();
    loop {
        let now_received = received.load(Ordering::Relaxed);
        let now = now_ms();
        if now_received >= expected || now >= give_up {
            break;
        }
        if now_received != last {
            last = now_received;
            last_change = now;
        } else if now - last_change >= QUIET_MS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = received.load(Ordering::Relaxed);
    eprintln!("drained: {got} of {expected} deliveries");
}

/// A sending client's write half.
struct Sender {
    sink: SplitSink<Ws, Message>,
    /// Its room (rooms scenario).
    room: Option<String>,
    /// Shouts written.
    sent: u64,
}

/// Sends `rate` shouts per second in all, round-robin over `senders`, from `t0` until `t_end`;
/// returns how many sends failed. Each shout's `ts` is the time it is built.
async fn pace(senders: &mut [Sender], codec: Codec, rate: f64, t0: f64, t_end: f64) -> u64 {
    // Tick at the shout period, but no faster than the timer's 1 ms: several shouts per tick then.
    let period = Duration::from_secs_f64((1.0 / rate).max(0.001));
    let mut tick = tokio::time::interval_at(instant_at(t0), period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut due_sent = 0u64;
    let mut errors = 0;
    let mut next = 0;
    let mut dirty = vec![false; senders.len()];
    loop {
        tick.tick().await;
        let now = now_ms();
        if now >= t_end {
            break;
        }
        let due = ((now - t0) / 1000.0 * rate).floor() as u64 + 1;
        while due_sent < due {
            due_sent += 1;
            let k = next;
            next = (next + 1) % senders.len();
            let s = &mut senders[k];
            let msg = match &s.room {
                None => frame::encode(
                    codec,
                    "bench.shout",
                    &[("ts", Value::Float(now_ms())), ("data", Value::Str(ALL))],
                    None,
                ),
                Some(room) => frame::encode(
                    codec,
                    "bench.roomShout",
                    &[
                        ("room", Value::Str(room)),
                        ("ts", Value::Float(now_ms())),
                        ("data", Value::Str(room)),
                    ],
                    None,
                ),
            };
            match tokio::time::timeout(Duration::from_secs(5), s.sink.feed(msg)).await {
                Ok(Ok(())) => {
                    s.sent += 1;
                    dirty[k] = true;
                }
                _ => errors += 1,
            }
        }
        for (s, dirty) in senders.iter_mut().zip(&mut dirty) {
            if std::mem::take(dirty)
                && !matches!(
                    tokio::time::timeout(Duration::from_secs(5), s.sink.flush()).await,
                    Ok(Ok(()))
                )
            {
                errors += 1;
            }
        }
    }
    errors
}

/// A receiving client.
struct Receiver {
    codec: Codec,
    /// The room whose shouts it should get (rooms scenario).
    room: Option<String>,
    rec: Recorder,
    /// Correct deliveries of all clients so far, for [`drain`] (wrong ones must not end it early).
    received: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
}

impl Receiver {
    /// Counts deliveries until told to stop.
    async fn run<S>(mut self, mut ws: S) -> Stats
    where
        S: Stream<Item = Result<Message, WsError>> + Unpin,
    {
        let mut st = Stats::default();
        loop {
            let mut next = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                msg = ws.next() => msg,
            };
            // Take every frame already received before publishing the count.
            let before = st.received;
            let mut closed = false;
            loop {
                match next {
                    Some(Ok(msg)) => {
                        if let Some(bytes) = frame::data_of(&msg) {
                            self.count(bytes, &mut st);
                        } else if msg.is_close() {
                            closed = true;
                        }
                    }
                    Some(Err(_)) | None => closed = true,
                }
                if closed {
                    st.disconnects += 1;
                    break;
                }
                match ws.next().now_or_never() {
                    Some(msg) => next = msg,
                    None => break,
                }
            }
            self.received.fetch_add(st.received - before, Ordering::Relaxed);
            if closed {
                break;
            }
        }
        st
    }

    fn count(&mut self, bytes: &[u8], st: &mut Stats) {
        let Some(frame) = frame::decode(self.codec, bytes) else {
            st.errors += 1;
            return;
        };
        match frame.kind {
            Kind::Shouted => {
                let now = now_ms();
                let in_room = match (&self.room, frame.payload.data) {
                    (Some(room), Some(data)) => data == room.as_bytes(),
                    (Some(_), None) => false,
                    (None, _) => true,
                };
                if !in_room {
                    st.wrong += 1;
                    return;
                }
                st.received += 1;
                st.last_ms = now;
                match frame.payload.ts {
                    Some(ts) => self.rec.record(now - ts),
                    None => st.errors += 1,
                }
            }
            Kind::RpcError | Kind::Error => st.errors += 1,
            Kind::Reply | Kind::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(room: Option<&str>) -> (Receiver, Arc<Latencies>) {
        let lat = Latencies::new();
        let (_tx, stop) = watch::channel(false);
        let rx = Receiver {
            codec: Codec::Json,
            room: room.map(String::from),
            rec: lat.recorder(0),
            received: Arc::new(AtomicU64::new(0)),
            stop,
        };
        (rx, lat)
    }

    fn shouted(ts: f64, data: &str) -> Vec<u8> {
        let msg = frame::encode(
            Codec::Json,
            "bench.shouted",
            &[("ts", Value::Float(ts)), ("data", Value::Str(data))],
            None,
        );
        frame::data_of(&msg).unwrap().to_vec()
    }

    #[test]
    fn rooms_are_spread_evenly() {
        assert_eq!(room_of(0, 10), "room0");
        assert_eq!(room_of(13, 10), "room3");
        let members = (0..1000).filter(|i| i % 10 == 3).count();
        assert_eq!(members, 100);
    }

    #[test]
    fn deliveries_to_the_wrong_room_are_counted_apart() {
        let (mut rx, lat) = receiver(Some("room3"));
        let mut st = Stats::default();
        let ts = now_ms() - 2.0;
        rx.count(&shouted(ts, "room3"), &mut st);
        rx.count(&shouted(ts, "room4"), &mut st);
        rx.count(&shouted(ts, "room33"), &mut st);
        rx.count(br#"{"type":"__error","payload":{"code":"X","message":"y"}}"#, &mut st);
        rx.count(b"garbage", &mut st);
        assert_eq!((st.received, st.wrong, st.errors), (1, 2, 2));
        rx.rec.flush();
        let s = lat.summary();
        assert_eq!(s.count, 1);
        assert!(s.p50 >= 2.0 && s.p50 < 1000.0, "{s:?}");
    }

    #[test]
    fn broadcast_clients_take_every_shout() {
        let (mut rx, _lat) = receiver(None);
        let mut st = Stats::default();
        rx.count(&shouted(1.0, "all"), &mut st);
        rx.count(&shouted(1.0, "anything"), &mut st);
        assert_eq!((st.received, st.wrong), (2, 0));
        assert!(st.last_ms > 0.0);
    }

    #[tokio::test]
    async fn drain_stops_when_everything_arrived_or_nothing_moves() {
        let received = AtomicU64::new(10);
        let start = now_ms();
        drain(&received, 10, start, 30.0).await;
        assert!(now_ms() - start < 500.0);
        drain(&received, 11, now_ms(), 30.0).await;
        let waited = now_ms() - start;
        assert!((QUIET_MS..QUIET_MS + 1000.0).contains(&waited), "{waited}");
    }
}
