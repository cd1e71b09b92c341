//! The `idle` scenario: opens N connections, each making one `bench.echo` call so the server has
//! fully set it up, then holds them without traffic and reads how much the server's RSS grew.
//! With `--fanout`, one shout from the first connection then goes to all of them: the time until
//! the last delivery, and the server CPU it took.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};

use crate::args::Args;
use crate::clock::now_ms;
use crate::conn::{self, Target, Ws};
use crate::frame::{self, Codec, Kind, Value};
use crate::latency::Latencies;
use crate::report::{FanoutOnce, Outcome, Probe, Usage};

/// Runs the scenario. The window spans opening the connections and the settle time; its latency
/// is each connection's connect + first echo.
pub(crate) async fn run(args: &Args, target: &Target, probe: &Probe) -> Result<(Outcome, Usage), String> {
    let codec = target.codec;
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let latencies = Latencies::new();
    let window = probe.start();
    let start = now_ms();
    let conns = conn::open_all(args.clients, args.concurrency, "idle connections", |i| {
        let mut rec = latencies.recorder(i);
        async move {
            let begin = now_ms();
            let mut ws = target.connect().await?;
            let data = format!("idle-{i}");
            let echo = frame::encode(
                codec,
                "bench.echo",
                &[("seq", Value::Int(i as i64)), ("data", Value::Str(&data))],
                Some("0"),
            );
            let reply = conn::call(&mut ws, codec, echo, "0", timeout).await?;
            if reply.seq != Some(i as i64) || reply.data.as_deref() != Some(data.as_bytes()) {
                return Err(format!("bench.echo replied {reply:?}"));
            }
            rec.record(now_ms() - begin);
            Ok(ws)
        }
    })
    .await?;
    let setup_s = (now_ms() - start) / 1000.0;
    eprintln!("idle: holding {} connections for {} s", conns.len(), args.settle);
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let usage = probe.finish(window);
    let mut out = Outcome {
        window_s: (now_ms() - start) / 1000.0,
        count: conns.len() as u64,
        connections: conns.len(),
        latency: latencies.summary(),
        setup_s,
        ..Outcome::default()
    };
    if args.fanout {
        let wait = Duration::from_secs_f64(args.drain.max(30.0));
        out.fanout = Some(fanout_once(conns, codec, probe, wait).await?);
    }
    // The kernel's high-water mark trails the RSS: never report a peak below a reading taken.
    out.server_peak_rss_kib = probe
        .server_peak_rss_kib()
        .map(|peak| peak.max(usage.server_rss_after_kib.unwrap_or(0)));
    Ok((out, usage))
}

/// One `bench.shout` from the first connection; every connection (the sender's included) waits
/// up to `wait` for its `bench.shouted`.
async fn fanout_once(mut conns: Vec<Ws>, codec: Codec, probe: &Probe, wait: Duration) -> Result<FanoutOnce, String> {
    let Some(mut sender) = (!conns.is_empty()).then(|| conns.swap_remove(0)) else {
        return Err("no connections to shout to".into());
    };
    // Every receiver reads before the shout leaves, so arrival times are not spawn times.
    let mut tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(first_shout(ws, codec, wait)))
        .collect();
    tokio::task::yield_now().await;
    let cpu_before = probe.server_cpu_s();
    let sent_at = now_ms();
    let shout = frame::encode(
        codec,
        "bench.shout",
        &[("ts", Value::Float(sent_at)), ("data", Value::Str("all"))],
        None,
    );
    sender.send(shout).await.map_err(|e| format!("the shout failed: {e}"))?;
    tasks.push(tokio::spawn(first_shout(sender, codec, wait)));
    let mut delays = Vec::with_capacity(tasks.len());
    let mut lost = 0;
    for task in tasks {
        match task.await.map_err(|e| format!("a receiver failed: {e}"))? {
            Some(at) => delays.push(at - sent_at),
            None => lost += 1,
        }
    }
    let server_cpu_s = cpu_before.zip(probe.server_cpu_s()).map(|(a, b)| b - a);
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| match delays.len() {
        0 => 0.0,
        n => delays[((n - 1) as f64 * q).round() as usize],
    };
    Ok(FanoutOnce {
        delivered: delays.len() as u64,
        lost,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        last_ms: at(1.0),
        server_cpu_s,
    })
}

/// Reads `ws` until its first `bench.shouted` (its arrival time) or `wait` passes (`None`); the
/// connection is closed either way.
async fn first_shout(mut ws: Ws, codec: Codec, wait: Duration) -> Option<f64> {
    let read = async {
        while let Some(Ok(msg)) = ws.next().await {
            let shouted = frame::data_of(&msg)
                .and_then(|bytes| frame::decode(codec, bytes))
                .is_some_and(|f| f.kind == Kind::Shouted);
            if shouted {
                return Some(now_ms());
            }
        }
        None
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}
