//! Operability: what the `metrics` facade records (rendered by the Prometheus exporter, as the
//! chat example serves it at `/metrics`), and the one log line of every refused connection,
//! which never carries a header's value. One test: the recorder and the log are global.

mod support;

use garde::Validate;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use support::{Client, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use zocket::{ClientId, Config, Input, Outgoing, Reject, Router, TS, Zocket};

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "test.blob")]
    Blob { data: String },
}

#[derive(Debug, Deserialize, Validate)]
struct Headers {
    #[garde(length(min = 3, max = 20))]
    token: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Add {
    a: f64,
    b: f64,
}

async fn add(Input(sum): Input<Add>) -> f64 {
    sum.a + sum.b
}

async fn me(id: ClientId) -> ClientId {
    id
}

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value of the sample of `name` that has every one of `labels`.
fn sample(rendered: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    rendered.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let matches = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        matches.then(|| value.parse().unwrap())
    })
}

async fn refused_with(url: &str, origin: Option<&str>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("{url} was not refused: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn metrics_count_what_happens_and_refusals_are_logged_once_without_header_values() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let log = Log::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let config = Config::default()
        .allowed_origins(["https://app.example"])
        .max_connections(2)
        .outbound_queue(2)
        .header_read_timeout(Duration::from_millis(300));
    let zo = Zocket::<Headers, Out>::new()
        .config(config)
        .on_connect(|headers: Headers, _| async move {
            if headers.token.starts_with("banned") {
                return Err(Reject::unauthorized("User is banned"));
            }
            Ok(())
        });
    let router: Router<Out> = zo.router().route("math.add", add).route("me", me);
    let (addr, handle) = start(zo.server(router)).await;
    let url = |token: &str| format!("ws://{addr}/?token={token}");

    // Six refusals, each with a secret in what the client sent.
    assert_eq!(
        refused_with(&url("SECRET-1"), Some("https://SECRET-2.example")).await,
        403
    );
    assert_eq!(refused_with(&url("SECRET-3-far-too-long-a-token"), None).await, 400);
    assert_eq!(refused_with(&url("banned-SECRET-4"), None).await, 401);
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /?token=SECRET-5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    plain.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /?token=SECRET-6 HTTP/1.1\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest))
        .await
        .expect("the slow request was cut off")
        .ok();

    let mut a = Client::connect(&url("alice")).await;
    let mut b = Client::connect(&url("bobby")).await;
    assert_eq!(refused_with(&url("carol"), None).await, 503, "full");

    // Calls: two that succeed, one refused by its schema, one to a route that does not exist.
    assert_eq!(a.ok("math.add", json!({"a": 1, "b": 2})).await, 3.0);
    assert_eq!(a.ok("math.add", json!({"a": 1, "b": 1})).await, 2.0);
    assert_eq!(a.err("math.add", json!({"a": "x"})).await["code"], "INVALID_INPUT");
    assert_eq!(a.err("SECRET-route", Value::Null).await["code"], "NOT_FOUND");

    // A client that reads nothing overflows its queue (two frames) and is closed with 1013.
    let b_id: ClientId = serde_json::from_value(b.ok("me", Value::Null).await).unwrap();
    let blob = "z".repeat(512 * 1024);
    for _ in 0..200 {
        if handle.emit(Out::Blob { data: blob.clone() }).to(&b_id).unwrap().dropped > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(b.closed().await.map(|close| u16::from(close.code)), Some(1013));
    a.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while handle.client_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let rendered = recorder.render();
    println!("{rendered}");
    let refusals = |reason| sample(&rendered, "zocket_upgrades_refused_total", &[("reason", reason)]);
    for reason in ["origin", "headers", "rejected", "handshake", "header_timeout", "full"] {
        assert_eq!(refusals(reason), Some(1.0), "{reason} in:\n{rendered}");
    }
    let calls = |route, outcome| {
        sample(
            &rendered,
            "zocket_calls_total",
            &[("route", route), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("math.add", "ok"), Some(2.0), "{rendered}");
    assert_eq!(calls("math.add", "INVALID_INPUT"), Some(1.0));
    assert_eq!(
        calls("(unknown)", "NOT_FOUND"),
        Some(1.0),
        "unknown routes are not labels"
    );
    assert_eq!(sample(&rendered, "zocket_connections_total", &[]), Some(2.0));
    assert_eq!(sample(&rendered, "zocket_connections", &[]), Some(0.0));
    assert_eq!(sample(&rendered, "zocket_queue_overflows_total", &[]), Some(1.0));
    let closes = |by, code| sample(&rendered, "zocket_closes_total", &[("by", by), ("code", code)]);
    assert_eq!(closes("server", "1013"), Some(1.0), "{rendered}");
    assert_eq!(
        closes("client", "none"),
        Some(1.0),
        "a close frame without a code: {rendered}"
    );
    assert!(
        !rendered.contains("SECRET"),
        "a client's words became a label:\n{rendered}"
    );

    let log = String::from_utf8(log.0.lock().clone()).unwrap();
    let refusal_lines: Vec<&str> = log.lines().filter(|line| line.contains("zocket::refused")).collect();
    println!("{}", refusal_lines.join("\n"));
    assert_eq!(refusal_lines.len(), 6, "one line per refusal:\n{log}");
    for reason in ["origin", "headers", "rejected", "handshake", "header_timeout", "full"] {
        let lines = refusal_lines
            .iter()
            .filter(|line| line.contains(&format!("reason=\"{reason}\"")))
            .count();
        assert_eq!(lines, 1, "{reason}:\n{log}");
    }
    assert!(!log.contains("SECRET"), "a header's value was logged:\n{log}");
}
