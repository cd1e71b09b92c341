//! The `idle` scenario: opens N connections, each making one `bench.echo` call so the server has
//! fully set it up, then holds them without traffic and reads how much the server's RSS grew.
//! With `--fanout`, one shout from the first connection then goes to all of them: the time until
//! the last delivery, and the server CPU it took. With `--listen`, the connections instead wait for
//! a shout another process sends (to other nodes of the same app, through their backplane): so a
//! broadcast can reach more connections than one process may open files. Delays are measured from
//! the shout's `ts` on the wall clock, which every process on the machine shares.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};

use crate::args::Args;
use crate::clock::{now_ms, wall_ms};
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
    if args.fanout || args.listen {
        let (heard, conns) = if args.fanout {
            let wait = Duration::from_secs_f64(args.drain.max(30.0));
            fanout_once(conns, codec, probe, wait).await?
        } else {
            eprintln!("idle: listening for a shout for up to {} s", args.drain);
            receive_all(conns, codec, Duration::from_secs_f64(args.drain)).await?
        };
        eprintln!("idle: heard the shout on {} connections", heard.delays.len());
        let mut fanout = summarize(heard, args.delays.as_deref())?;
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
        fanout.close_cpu_s = close_all(conns, probe).await;
        out.fanout = Some(fanout);
    }
    // The kernel's high-water mark trails the RSS: never report a peak below a reading taken.
    out.server_peak_rss_kib = probe
        .server_peak_rss_kib()
        .map(|peak| peak.max(usage.server_rss_after_kib.unwrap_or(0)));
    Ok((out, usage))
}

/// What one broadcast did: each delivery's delay, the connections that got none in time, and
/// the server CPU from the send until every receiver was done (if this process sent it).
struct Heard {
    delays: Vec<f64>,
    lost: u64,
    server_cpu_s: Option<f64>,
}

/// One `bench.shout` from the first connection; every connection (the sender's included) waits
/// up to `wait` for its `bench.shouted`. The connections are handed back open.
async fn fanout_once(
    mut conns: Vec<Ws>,
    codec: Codec,
    probe: &Probe,
    wait: Duration,
) -> Result<(Heard, Vec<Ws>), String> {
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
    let shout = frame::encode(
        codec,
        "bench.shout",
        &[("ts", Value::Float(wall_ms())), ("data", Value::Str("all"))],
        None,
    );
    sender.send(shout).await.map_err(|e| format!("the shout failed: {e}"))?;
    tasks.push(tokio::spawn(first_shout(sender, codec, wait)));
    let (mut heard, conns) = collect(tasks).await?;
    heard.server_cpu_s = cpu_before.zip(probe.server_cpu_s()).map(|(a, b)| b - a);
    Ok((heard, conns))
}

/// Every connection waits up to `wait` for a `bench.shouted` someone else sends.
async fn receive_all(conns: Vec<Ws>, codec: Codec, wait: Duration) -> Result<(Heard, Vec<Ws>), String> {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(first_shout(ws, codec, wait)))
        .collect();
    collect(tasks).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<(Option<f64>, Ws)>>) -> Result<(Heard, Vec<Ws>), String> {
    let mut heard = Heard {
        delays: Vec::with_capacity(tasks.len()),
        lost: 0,
        server_cpu_s: None,
    };
    let mut conns = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (delay, ws) = task.await.map_err(|e| format!("a receiver failed: {e}"))?;
        match delay {
            Some(delay) => heard.delays.push(delay),
            None => heard.lost += 1,
        }
        conns.push(ws);
    }
    Ok((heard, conns))
}

/// Drops every connection, then waits for the server to stop using CPU (two readings 250 ms
/// apart that agree, within 30 s): the server CPU it took to close them.
async fn close_all(conns: Vec<Ws>, probe: &Probe) -> Option<f64> {
    let before = probe.server_cpu_s()?;
    drop(conns);
    let mut last = before;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = probe.server_cpu_s()?;
        if now == last {
            break;
        }
        last = now;
    }
    Some(last - before)
}

/// The figures of one broadcast from its delays (written to `delays_to`, one per line, if given).
fn summarize(heard: Heard, delays_to: Option<&str>) -> Result<FanoutOnce, String> {
    let Heard {
        mut delays,
        lost,
        server_cpu_s,
    } = heard;
    delays.sort_by(f64::total_cmp);
    if let Some(path) = delays_to {
        let lines: String = delays.iter().map(|d| format!("{d:.3}\n")).collect();
        std::fs::write(path, lines).map_err(|e| format!("writing {path}: {e}"))?;
    }
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
        close_cpu_s: None,
    })
}

/// Reads `ws` until its first `bench.shouted` (its delay: now less the shout's `ts`, both on the
/// wall clock) or `wait` passes (`None`); hands the connection back.
async fn first_shout(mut ws: Ws, codec: Codec, wait: Duration) -> (Option<f64>, Ws) {
    let read = async {
        while let Some(Ok(msg)) = ws.next().await {
            let sent_at = frame::data_of(&msg)
                .and_then(|bytes| frame::decode(codec, bytes))
                .filter(|f| f.kind == Kind::Shouted)
                .map(|f| f.payload.ts);
            match sent_at {
                Some(Some(sent_at)) => return Some(wall_ms() - sent_at),
                // A shout without its timestamp cannot be timed: not heard, so it shows as
                // lost rather than as a delay of NaN.
                Some(None) => return None,
                None => {}
            }
        }
        None
    };
    let delay = tokio::time::timeout(wait, read).await.ok().flatten();
    (delay, ws)
}
