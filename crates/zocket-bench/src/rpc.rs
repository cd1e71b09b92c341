//! The `rpc` scenario: every client keeps N `bench.echo` calls in flight and checks each reply
//! against its call. Replies that arrive together are answered with new calls written in one flush.
//!
//! With `--pipelined` a client behaves like a busy one: its first N calls go out in one write, and
//! it refills only once at least half its slots are free, every free slot in one write, so the
//! server always reads many frames at once and its per-message cost cannot hide behind syscalls.

use std::fmt::Write;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::args::Args;
use crate::clock::{instant_at, now_ms};
use crate::conn::{self, Target, Ws};
use crate::frame::{self, Codec, Kind, Value};
use crate::latency::{Latencies, Recorder};
use crate::report::{Outcome, Probe, Usage};

/// How long clients wait for outstanding replies after the window.
const GRACE_MS: f64 = 5000.0;

/// When every client starts, counts and stops.
#[derive(Debug, Clone, Copy)]
struct Plan {
    codec: Codec,
    in_flight: usize,
    /// Refill in batches (`--pipelined`) rather than a call per reply.
    pipelined: bool,
    /// Pipelined: free slots needed before new calls go out (half of `in_flight`, rounded up).
    refill_at: usize,
    /// First calls go out.
    start: f64,
    /// The measured window.
    t0: f64,
    t1: f64,
}

/// One client's counts.
#[derive(Debug, Default)]
struct Stats {
    /// Correct replies received inside the window.
    calls: u64,
    wrong: u64,
    errors: u64,
    disconnects: u64,
    /// Calls written, and the flushes that carried them.
    frames_written: u64,
    writes: u64,
}

/// Runs the scenario.
pub(crate) async fn run(args: &Args, target: &Target, probe: &Probe) -> Result<(Outcome, Usage), String> {
    let setup_start = now_ms();
    let conns = conn::open_all(args.clients, args.concurrency, "connections", |_| target.connect()).await?;
    let setup_s = (now_ms() - setup_start) / 1000.0;

    let start = now_ms() + 100.0;
    let t0 = start + args.warmup * 1000.0;
    let plan = Plan {
        codec: target.codec,
        in_flight: args.in_flight,
        pipelined: args.pipelined,
        refill_at: args.in_flight.div_ceil(2),
        start,
        t0,
        t1: t0 + args.duration * 1000.0,
    };
    let latencies = Latencies::new();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(id, ws)| tokio::spawn(client(id, ws, plan, latencies.recorder(id))))
        .collect();

    tokio::time::sleep_until(instant_at(plan.t0)).await;
    let window = probe.start();
    eprintln!("rpc: measuring {} s", args.duration);
    tokio::time::sleep_until(instant_at(plan.t1)).await;
    let usage = probe.finish(window);

    let mut out = Outcome {
        window_s: (plan.t1 - plan.t0) / 1000.0,
        unit: Some("calls/s"),
        connections: args.clients,
        setup_s,
        ..Outcome::default()
    };
    for task in tasks {
        let stats = task.await.map_err(|e| format!("a client task failed: {e}"))?;
        out.count += stats.calls;
        out.wrong += stats.wrong;
        out.errors += stats.errors;
        out.disconnects += stats.disconnects;
        out.frames_written += stats.frames_written;
        out.writes += stats.writes;
    }
    out.latency = latencies.summary();
    Ok((out, usage))
}

/// One client: keeps `in_flight` calls going until the window ends, then collects the last replies.
async fn client(id: usize, mut ws: Ws, plan: Plan, mut rec: Recorder) -> Stats {
    let mut st = Stats::default();
    let mut calls = Calls {
        id,
        codec: plan.codec,
        next_seq: 0,
        pending: Vec::with_capacity(plan.in_flight),
        data: String::with_capacity(24),
        rpc_id: String::with_capacity(12),
    };
    tokio::time::sleep_until(instant_at(plan.start)).await;
    for _ in 0..plan.in_flight {
        if ws.feed(calls.next()).await.is_err() {
            st.errors += 1;
            return st;
        }
    }
    if ws.flush().await.is_err() {
        st.errors += 1;
        return st;
    }
    st.frames_written += plan.in_flight as u64;
    st.writes += 1;
    let grace = instant_at(plan.t1 + GRACE_MS);
    'run: while !calls.pending.is_empty() {
        let mut next = match tokio::time::timeout_at(grace, ws.next()).await {
            Ok(msg) => msg,
            Err(_) => {
                // Calls without a reply in time.
                st.errors += calls.pending.len() as u64;
                break;
            }
        };
        // Handle every frame already received, then write the new calls in one go.
        let mut fed = 0;
        loop {
            let msg = match next {
                Some(Ok(msg)) => msg,
                Some(Err(_)) | None => {
                    st.disconnects += 1;
                    break 'run;
                }
            };
            if let Some(bytes) = frame::data_of(&msg) {
                let now = now_ms();
                let settled = calls.answer(bytes, now, &plan, &mut st, &mut rec);
                if settled && !plan.pipelined && now < plan.t1 {
                    if ws.feed(calls.next()).await.is_err() {
                        st.errors += 1;
                        break 'run;
                    }
                    fed += 1;
                }
            } else if msg.is_close() {
                st.disconnects += 1;
                break 'run;
            }
            match ws.next().now_or_never() {
                Some(msg) => next = msg,
                None => break,
            }
        }
        // Pipelined: nothing went out above; fill every free slot once enough are free.
        let free = plan.in_flight.saturating_sub(calls.pending.len());
        if plan.pipelined && free >= plan.refill_at && now_ms() < plan.t1 {
            for _ in 0..free {
                if ws.feed(calls.next()).await.is_err() {
                    st.errors += 1;
                    break 'run;
                }
            }
            fed += free as u64;
        }
        if ws.flush().await.is_err() {
            st.errors += 1;
            break;
        }
        if fed > 0 {
            st.frames_written += fed;
            st.writes += 1;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    st
}

/// A client's calls: what is in flight and what each reply must hold.
struct Calls {
    id: usize,
    codec: Codec,
    next_seq: u64,
    /// `(seq, sent at ms)` of calls without a reply yet.
    pending: Vec<(u64, f64)>,
    data: String,
    rpc_id: String,
}

impl Calls {
    /// The next call; its `rpcId` is its `seq` and its `data` names the client and the seq.
    fn next(&mut self) -> Message {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.set_expected(seq);
        self.rpc_id.clear();
        write!(self.rpc_id, "{seq}").expect("writing to a String");
        let msg = frame::encode(
            self.codec,
            "bench.echo",
            &[("seq", Value::Int(seq as i64)), ("data", Value::Str(&self.data))],
            Some(&self.rpc_id),
        );
        self.pending.push((seq, now_ms()));
        msg
    }

    fn set_expected(&mut self, seq: u64) {
        self.data.clear();
        write!(self.data, "c{}-{seq}", self.id).expect("writing to a String");
    }

    /// Checks one received frame; returns whether it settled a call (so another may go out).
    fn answer(&mut self, bytes: &[u8], now: f64, plan: &Plan, st: &mut Stats, rec: &mut Recorder) -> bool {
        let Some(frame) = frame::decode(self.codec, bytes) else {
            st.errors += 1;
            return false;
        };
        let seq = frame
            .rpc_id
            .and_then(|id| std::str::from_utf8(id).ok())
            .and_then(|id| id.parse::<u64>().ok());
        let slot = seq.and_then(|seq| self.pending.iter().position(|(s, _)| *s == seq));
        match frame.kind {
            Kind::Reply => {
                let Some(slot) = slot else {
                    // A reply to no call of ours.
                    st.wrong += 1;
                    return false;
                };
                let (seq, sent) = self.pending.swap_remove(slot);
                self.set_expected(seq);
                let p = frame.payload;
                if p.seq != Some(seq as i64) || p.data != Some(self.data.as_bytes()) {
                    st.wrong += 1;
                } else if now >= plan.t0 && now < plan.t1 {
                    st.calls += 1;
                    rec.record(now - sent);
                }
                true
            }
            Kind::RpcError | Kind::Error => {
                st.errors += 1;
                match slot {
                    Some(slot) => {
                        self.pending.swap_remove(slot);
                        true
                    }
                    None => false,
                }
            }
            Kind::Shouted | Kind::Other => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(codec: Codec) -> Calls {
        Calls {
            id: 3,
            codec,
            next_seq: 0,
            pending: Vec::new(),
            data: String::new(),
            rpc_id: String::new(),
        }
    }

    const PLAN: Plan = Plan {
        codec: Codec::Json,
        in_flight: 2,
        pipelined: false,
        refill_at: 1,
        start: 0.0,
        t0: 0.0,
        t1: f64::MAX,
    };

    fn reply(seq: i64, data: &str, rpc_id: &str) -> Vec<u8> {
        frame::data_of(&frame::encode(
            Codec::Json,
            "__rpc_res",
            &[("seq", Value::Int(seq)), ("data", Value::Str(data))],
            Some(rpc_id),
        ))
        .unwrap()
        .to_vec()
    }

    #[test]
    fn replies_settle_their_calls_in_any_order() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(0);
        let mut c = calls(Codec::Json);
        let first = c.next();
        assert_eq!(
            first.to_text().unwrap(),
            r#"{"type":"bench.echo","payload":{"seq":0,"data":"c3-0"},"rpcId":"0"}"#
        );
        c.next();
        let mut st = Stats::default();
        assert!(c.answer(&reply(1, "c3-1", "1"), now_ms(), &PLAN, &mut st, &mut rec));
        assert!(c.answer(&reply(0, "c3-0", "0"), now_ms(), &PLAN, &mut st, &mut rec));
        assert_eq!((st.calls, st.wrong, st.errors), (2, 0, 0));
        assert!(c.pending.is_empty());
        drop(rec);
        assert_eq!(lat.summary().count, 2);
    }

    #[test]
    fn mismatched_replies_are_wrong() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(0);
        let mut c = calls(Codec::Json);
        let mut st = Stats::default();
        c.next();
        c.next();
        c.next();
        // Right id, wrong data (another client's); right id, wrong seq; an id never sent.
        assert!(c.answer(&reply(0, "c4-0", "0"), 1.0, &PLAN, &mut st, &mut rec));
        assert!(c.answer(&reply(7, "c3-1", "1"), 1.0, &PLAN, &mut st, &mut rec));
        assert!(!c.answer(&reply(9, "c3-9", "9"), 1.0, &PLAN, &mut st, &mut rec));
        assert_eq!((st.calls, st.wrong), (0, 3));
        assert_eq!(c.pending.len(), 1);
    }

    #[test]
    fn only_replies_inside_the_window_count() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(0);
        let mut c = calls(Codec::Json);
        let mut st = Stats::default();
        let plan = Plan {
            t0: 100.0,
            t1: 200.0,
            ..PLAN
        };
        c.next();
        c.next();
        c.next();
        assert!(c.answer(&reply(0, "c3-0", "0"), 50.0, &plan, &mut st, &mut rec));
        assert!(c.answer(&reply(1, "c3-1", "1"), 150.0, &plan, &mut st, &mut rec));
        assert!(c.answer(&reply(2, "c3-2", "2"), 250.0, &plan, &mut st, &mut rec));
        assert_eq!((st.calls, st.wrong), (1, 0));
    }

    #[test]
    fn error_replies_settle_their_call_and_count() {
        let lat = Latencies::new();
        let mut rec = lat.recorder(0);
        let mut c = calls(Codec::Msgpack);
        let mut st = Stats::default();
        c.next();
        let err = frame::encode(
            Codec::Msgpack,
            "__rpc_err",
            &[("code", Value::Str("INTERNAL"))],
            Some("0"),
        );
        assert!(c.answer(frame::data_of(&err).unwrap(), 1.0, &PLAN, &mut st, &mut rec));
        assert!(!c.answer(b"not msgpack", 1.0, &PLAN, &mut st, &mut rec));
        assert_eq!((st.errors, st.calls), (2, 0));
        assert!(c.pending.is_empty());
    }
}
