//! Micro-benchmarks of the hot paths: decoding a frame, encoding a reply, a call through the
//! whole runtime (in memory), and one broadcast fanned out to 10 000 local recipients.
//!
//! Run: `cargo bench --bench hot_paths`. Figures are in `BENCHMARKS.md`.

#[path = "../examples/bench_server.rs"]
#[allow(dead_code)]
mod bench_server;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use zocket::Codec;
use zocket::testing::TestClient;

const CALL: &[u8] =
    br#"{"type":"bench.echo","payload":{"seq":12345,"data":"0123456789abcdef0123456789abcdef"},"rpcId":"c-12345"}"#;

fn headers() -> bench_server::Headers {
    serde_json::from_value(json!({})).unwrap()
}

fn codecs(c: &mut Criterion) {
    let packed = rmp_serde::to_vec_named(&serde_json::from_slice::<serde_json::Value>(CALL).unwrap()).unwrap();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("json", |b| {
        b.iter(|| black_box(Codec::Json.decode(black_box(CALL)).unwrap().route.len()))
    });
    group.bench_function("msgpack", |b| {
        b.iter(|| black_box(Codec::MsgPack.decode(black_box(&packed)).unwrap().route.len()))
    });
    group.finish();

    let reply = json!({"seq": 12345, "data": "0123456789abcdef0123456789abcdef"});
    let mut group = c.benchmark_group("encode_reply");
    group.throughput(Throughput::Elements(1));
    for &codec in Codec::ALL {
        let mut out = Vec::with_capacity(256);
        group.bench_function(format!("{codec:?}").to_lowercase(), |b| {
            b.iter(|| {
                out.clear();
                codec.write_reply(&mut out, br#""c-12345""#, black_box(&reply)).unwrap();
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A call through decode, routing, validation, the handler, the reply and both ends' framing.
fn dispatch(c: &mut Criterion) {
    let rt = runtime();
    let server = rt.block_on(async { bench_server::app() });
    let mut group = c.benchmark_group("dispatch");
    for &codec in Codec::ALL {
        let client = rt.block_on(server.test_client_with(headers(), codec)).unwrap();
        let client = tokio::sync::Mutex::new(client);
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("call", format!("{codec:?}").to_lowercase()), |b| {
            b.to_async(&rt).iter(|| async {
                let mut client = client.lock().await;
                let reply = client
                    .call_route("bench.echo", json!({"seq": 1, "data": "0123456789abcdef"}))
                    .await;
                black_box(reply.unwrap());
            })
        });
    }
    // 16 calls in flight: what batching buys.
    let mut client = rt.block_on(server.test_client(headers())).unwrap();
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_16", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..16 {
                    client.send_raw(CALL).await;
                }
                for _ in 0..16 {
                    black_box(client.next_raw().await.unwrap());
                }
            })
        })
    });
    group.finish();
}

/// One shout to 10 000 in-memory clients: from the emit until every client has read it.
fn broadcast(c: &mut Criterion) {
    const CLIENTS: usize = 10_000;
    let rt = runtime();
    let server = rt.block_on(async { bench_server::app() });
    let received = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for _ in 0..CLIENTS {
            let mut client: TestClient = server.test_client(headers()).await.unwrap();
            let received = received.clone();
            tokio::spawn(async move {
                while client.next_raw().await.is_some() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let handle = server.handle();
    let mut group = c.benchmark_group("broadcast");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(CLIENTS as u64));
    group.bench_function("fan_out_10000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let target = received.load(Ordering::Relaxed) + CLIENTS;
                let started = Instant::now();
                let shout =
                    bench_server::Out::Shouted(serde_json::from_value(json!({"ts": 1.0, "data": "x"})).unwrap());
                let delivery = handle.emit(shout).broadcast().unwrap();
                assert_eq!(delivery.delivered, CLIENTS);
                while received.load(Ordering::Relaxed) < target {
                    std::thread::yield_now();
                }
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, codecs, dispatch, broadcast);
criterion_main!(benches);
