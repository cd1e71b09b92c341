//! The `idle` scenario: opens N connections, each making one `bench.echo` call so the server has
//! fully set it up, then holds them without traffic and reads how much the server's RSS grew.

use std::time::Duration;

use crate::args::Args;
use crate::clock::now_ms;
use crate::conn::{self, Target};
use crate::frame::{self, Value};
use crate::latency::Latencies;
use crate::report::{Outcome, Probe, Usage};

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
    let out = Outcome {
        window_s: (now_ms() - start) / 1000.0,
        count: conns.len() as u64,
        connections: conns.len(),
        latency: latencies.summary(),
        setup_s,
        ..Outcome::default()
    };
    drop(conns);
    Ok((out, usage))
}
