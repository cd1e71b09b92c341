//! Every row of the conformance contract (`shared/conformance-app.md`), driven over real
//! loopback sockets against the example's own code (`examples/conformance.rs`).

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Client, start};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame,
    coding::{Data, OpCode},
};

async fn server() -> String {
    let (addr, _handle) = start(conformance::app()).await;
    format!("ws://{addr}/")
}

async fn client(base: &str, token: &str) -> Client {
    Client::connect(&format!("{base}?token={token}")).await
}

fn issue_paths(error: &Value) -> Vec<Value> {
    error["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].clone())
        .collect()
}

#[tokio::test]
async fn greet_and_math_reply_with_values() {
    let base = server().await;
    let mut c = client(&base, "ada").await;
    assert_eq!(c.ok("greet", json!({"name": "Ada"})).await, "Hello, Ada!");
    assert_eq!(c.ok("math.add", json!({"a": 1.5, "b": 2})).await, 3.5);
    assert_eq!(c.ok("math.add", json!({"a": -1, "b": 1})).await.as_f64(), Some(0.0));
}

#[tokio::test]
async fn invalid_input_names_every_failing_field() {
    let base = server().await;
    let mut c = client(&base, "ada").await;
    let err = c.err("math.add", json!({"a": "1", "b": null})).await;
    assert_eq!(err["code"], "INVALID_INPUT");
    assert_eq!(issue_paths(&err), [json!(["a"]), json!(["b"])]);
    assert!(err["issues"][0]["message"].as_str().unwrap().len() > 3);

    let err = c.err("math.add", json!({})).await;
    assert_eq!(issue_paths(&err), [json!(["a"]), json!(["b"])]);

    let err = c.err("chat.message", json!({"text": ""})).await;
    assert_eq!(err["code"], "INVALID_INPUT");
    assert_eq!(issue_paths(&err), [json!(["text"])]);
    let err = c.err("chat.message", json!({"text": "x".repeat(501)})).await;
    assert_eq!(issue_paths(&err), [json!(["text"])]);
    assert_eq!(
        c.ok("chat.message", json!({"text": "é".repeat(500)})).await,
        Value::Null,
        "500 characters is allowed"
    );

    let err = c.err("slow.echo", json!({"text": "x", "delayMs": 5001})).await;
    assert_eq!(issue_paths(&err), [json!(["delayMs"])]);
    let err = c.err("rooms.join", json!({"room": ""})).await;
    assert_eq!(issue_paths(&err), [json!(["room"])]);
    let err = c.err("greet", json!("not an object")).await;
    assert_eq!(err["code"], "INVALID_INPUT");
    let err = c.err("math.add", json!([1, 2])).await;
    assert_eq!(
        err["code"], "INVALID_INPUT",
        "an array is not the object the schema wants"
    );
}

#[tokio::test]
async fn chat_and_announcements_reach_every_client() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    let mut b = client(&base, "bob").await;
    assert_eq!(a.ok("chat.message", json!({"text": "hi all"})).await, Value::Null);
    let expected = json!({"text": "hi all", "from": "alice"});
    assert_eq!(a.event("chat.onMessage").await, expected);
    assert_eq!(b.event("chat.onMessage").await, expected);

    assert_eq!(
        b.ok("system.announce", json!({"text": "maintenance"})).await,
        Value::Null
    );
    assert_eq!(a.event("system.announcement").await, json!({"text": "maintenance"}));
    assert_eq!(b.event("system.announcement").await, json!({"text": "maintenance"}));
}

#[tokio::test]
async fn slow_calls_do_not_block_the_next_reply_or_other_clients() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    let mut b = client(&base, "bob").await;
    let started = Instant::now();
    let slow = a
        .start_call("slow.echo", json!({"text": "late", "delayMs": 1500}))
        .await;
    let fast = a.start_call("greet", json!({"name": "quick"})).await;
    assert_eq!(a.reply(&fast).await["payload"], "Hello, quick!");
    assert_eq!(b.ok("greet", json!({"name": "b"})).await, "Hello, b!");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the fast replies waited for the slow one"
    );
    assert_eq!(a.reply(&slow).await["payload"], "late");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn whoami_reports_the_context_and_takes_no_payload() {
    let base = server().await;
    let mut c = Client::connect(&format!("{base}?token=carol&x-zocket-version=0.1.0")).await;
    let me = c.ok("whoami", Value::Null).await;
    assert_eq!(me["userId"], "carol");
    assert_eq!(me["clientVersion"], "1.0.0");
    let id = me["clientId"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|ch| ch.is_ascii_hexdigit()));

    // An absent payload works as well as null.
    c.send_json(json!({"type": "whoami", "rpcId": "no-payload"})).await;
    assert_eq!(c.reply("no-payload").await["payload"]["userId"], "carol");

    let err = c.err("whoami", json!({"x": 1})).await;
    assert_eq!(err["code"], "INVALID_INPUT");

    let mut d = Client::connect(&format!("{base}?token=dave&client-version=2.5.0")).await;
    let other = d.ok("whoami", Value::Null).await;
    assert_eq!(other["clientVersion"], "2.5.0");
    assert_ne!(other["clientId"], me["clientId"], "client ids are unique");
}

#[tokio::test]
async fn rooms_join_leave_and_deliver_only_to_members() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    let mut b = client(&base, "bob").await;
    let mut outsider = client(&base, "olga").await;
    assert_eq!(a.ok("rooms.join", json!({"room": "zoo"})).await, json!(["zoo"]));
    assert_eq!(a.ok("rooms.join", json!({"room": "art"})).await, json!(["art", "zoo"]));
    assert_eq!(
        a.ok("rooms.join", json!({"room": "art"})).await,
        json!(["art", "zoo"]),
        "joining twice changes nothing"
    );
    assert_eq!(b.ok("rooms.join", json!({"room": "zoo"})).await, json!(["zoo"]));
    assert_eq!(
        b.ok("rooms.leave", json!({"room": "never-joined"})).await,
        json!(["zoo"])
    );

    // A non-member may send to a room; only members receive it.
    assert_eq!(
        outsider
            .ok("rooms.send", json!({"room": "zoo", "text": "hello zoo"}))
            .await,
        Value::Null
    );
    let expected = json!({"room": "zoo", "text": "hello zoo", "from": "olga"});
    assert_eq!(a.event("room.message").await, expected);
    assert_eq!(b.event("room.message").await, expected);
    outsider.silent(Duration::from_millis(200)).await;

    assert_eq!(a.ok("rooms.leave", json!({"room": "zoo"})).await, json!(["art"]));
    assert_eq!(
        b.ok("rooms.send", json!({"room": "zoo", "text": "only bob"})).await,
        Value::Null
    );
    assert_eq!(b.event("room.message").await["text"], "only bob");
    a.silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn direct_send_reaches_one_client_and_unknown_ids_are_fine() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    let mut b = client(&base, "bob").await;
    let mut c = client(&base, "carl").await;
    let b_id = b.ok("whoami", Value::Null).await["clientId"].clone();
    assert_eq!(
        a.ok("direct.send", json!({"to": b_id, "text": "psst"})).await,
        Value::Null
    );
    assert_eq!(
        b.event("chat.onMessage").await,
        json!({"text": "psst", "from": "alice"})
    );
    assert_eq!(
        a.ok("direct.send", json!({"to": "no-such-client", "text": "void"}))
            .await,
        Value::Null
    );
    a.silent(Duration::from_millis(200)).await;
    c.silent(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn admin_middleware_refuses_or_enriches() {
    let base = server().await;
    let mut user = client(&base, "mallory").await;
    let err = user.err("admin.secret", Value::Null).await;
    assert_eq!(err["code"], "FORBIDDEN");
    assert!(err.get("issues").is_none());
    let mut admin = client(&base, "admin-token").await;
    assert_eq!(admin.ok("admin.secret", Value::Null).await, "top secret");
}

#[tokio::test]
async fn push_tick_is_pushed_from_outside_any_handler() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    let mut b = client(&base, "bob").await;
    assert_eq!(a.ok("admin.pushTick", json!({"n": 42})).await, Value::Null);
    assert_eq!(a.event("system.tick").await, json!({"n": 42}));
    assert_eq!(b.event("system.tick").await, json!({"n": 42}));
}

#[tokio::test]
async fn failures_and_panics_reply_internal_and_keep_serving() {
    let base = server().await;
    let mut c = client(&base, "alice").await;
    let err = c.err("fail.boom", Value::Null).await;
    assert_eq!(
        err,
        json!({"code": "INTERNAL", "message": "Internal server error"}),
        "no internals leak"
    );
    let err = c.err("fail.panic", Value::Null).await;
    assert_eq!(err["code"], "INTERNAL");
    assert_eq!(c.ok("greet", json!({"name": "still here"})).await, "Hello, still here!");
    let mut other = client(&base, "bob").await;
    assert_eq!(other.ok("greet", json!({"name": "b"})).await, "Hello, b!");
}

#[tokio::test]
async fn bad_requests_and_unknown_routes() {
    let base = server().await;
    let mut c = client(&base, "alice").await;

    c.send_text("not json").await;
    let frame = c.next_frame().await;
    assert_eq!(frame["type"], "__error");
    assert_eq!(frame["payload"]["code"], "BAD_REQUEST");

    c.send_text("[1,2,3]").await;
    assert_eq!(c.next_frame().await["payload"]["code"], "BAD_REQUEST");

    c.send_json(json!({"payload": 1, "rpcId": "id-1"})).await;
    let frame = c.next_frame().await;
    assert_eq!(frame["type"], "__rpc_err");
    assert_eq!(frame["rpcId"], "id-1");
    assert_eq!(frame["payload"]["code"], "BAD_REQUEST");

    c.send_json(json!({"type": 7, "rpcId": "id-2"})).await;
    assert_eq!(c.reply("id-2").await["payload"]["code"], "BAD_REQUEST");

    let err = c.err("no.such.route", Value::Null).await;
    assert_eq!(err["code"], "NOT_FOUND");

    c.send_json(json!({"type": "no.such.route", "payload": {}})).await;
    let frame = c.next_frame().await;
    assert_eq!(frame["type"], "__error");
    assert_eq!(frame["payload"]["code"], "NOT_FOUND");
    assert_eq!(frame["payload"]["route"], "no.such.route");
}

#[tokio::test]
async fn fire_and_forget_runs_and_reports_failures_with_the_route() {
    let base = server().await;
    let mut a = client(&base, "alice").await;
    a.send_json(json!({"type": "chat.message", "payload": {"text": "no reply wanted"}}))
        .await;
    assert_eq!(a.event("chat.onMessage").await["text"], "no reply wanted");
    a.silent(Duration::from_millis(200)).await;

    a.send_json(json!({"type": "math.add", "payload": {"a": 1}})).await;
    let frame = a.next_frame().await;
    assert_eq!(frame["type"], "__error");
    assert_eq!(frame["payload"]["code"], "INVALID_INPUT");
    assert_eq!(frame["payload"]["route"], "math.add");
    assert_eq!(frame["payload"]["issues"][0]["path"], json!(["b"]));
}

#[tokio::test]
async fn headers_are_validated_before_the_upgrade() {
    let base = server().await;
    let (status, body) = Client::refused(&base).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid headers");
    assert_eq!(body["details"][0]["path"], json!(["token"]));

    let (status, body) = Client::refused(&format!("{base}?token=ab")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["path"], json!(["token"]));

    let (status, body) = Client::refused(&format!("{base}?token=banned-user")).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"error": "User is banned"}));
}

#[tokio::test]
async fn headers_come_from_http_headers_and_the_query_wins() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let base = server().await;
    let mut request = format!("{base}?token=from-query").into_client_request().unwrap();
    request.headers_mut().insert("token", "from-header".parse().unwrap());
    request.headers_mut().insert("client-version", "9.9.9".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    drop(ws);

    let mut request = base.as_str().into_client_request().unwrap();
    request.headers_mut().insert("token", "header-only".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let _ = ws;

    let mut request = format!("{base}?token=from-query").into_client_request().unwrap();
    request.headers_mut().insert("token", "from-header".parse().unwrap());
    request.headers_mut().insert("client-version", "9.9.9".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut c = support::Client::from_stream(ws);
    let me = c.ok("whoami", Value::Null).await;
    assert_eq!(me["userId"], "from-query");
    assert_eq!(me["clientVersion"], "9.9.9");
}

#[tokio::test]
async fn disconnect_broadcasts_presence_with_sorted_rooms() {
    let base = server().await;
    let mut stay = client(&base, "stay").await;
    let mut leave = client(&base, "leaver").await;
    leave.ok("rooms.join", json!({"room": "b-room"})).await;
    leave.ok("rooms.join", json!({"room": "a-room"})).await;
    drop(leave);
    assert_eq!(
        stay.event("presence.left").await,
        json!({"userId": "leaver", "rooms": ["a-room", "b-room"]})
    );
}

#[tokio::test]
async fn binary_frames_are_read_as_json_and_bad_utf8_closes_with_1007() {
    let base = server().await;
    let mut c = client(&base, "alice").await;
    let frame = json!({"type": "greet", "payload": {"name": "bin"}, "rpcId": "b1"}).to_string();
    c.send_message(Message::binary(frame.into_bytes())).await;
    assert_eq!(c.reply("b1").await["payload"], "Hello, bin!");

    let bad = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    c.send_message(Message::Frame(bad)).await;
    let close = c.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1007);
}

#[tokio::test]
async fn default_limits_admit_bursts_and_64k_and_refuse_16m() {
    let base = server().await;
    let mut c = client(&base, "alice").await;
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(c.start_call("greet", json!({"name": i.to_string()})).await);
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(c.reply(id).await["payload"], format!("Hello, {i}!"));
    }
    let big = "x".repeat(64 * 1024);
    assert_eq!(
        c.ok("greet", json!({"name": big})).await.as_str().unwrap().len(),
        64 * 1024 + 8
    );

    let mut bystander = client(&base, "bob").await;
    let huge = json!({"type": "greet", "payload": {"name": "y".repeat(16 * 1024 * 1024)}, "rpcId": "huge"}).to_string();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.send_text_lossy(huge)).await;
    match c.closed_or_error().await {
        support::Ending::Closed(code) => assert_eq!(code, 1009),
        support::Ending::Frame(frame) => assert_eq!(frame["payload"]["code"], "PAYLOAD_TOO_LARGE"),
        support::Ending::Dropped => {}
    }
    assert_eq!(bystander.ok("greet", json!({"name": "ok"})).await, "Hello, ok!");
}

#[tokio::test]
async fn the_example_binary_prints_where_it_listens() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let exe = std::env::current_exe().unwrap();
    let examples = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("conformance");
    let mut child = tokio::process::Command::new(&examples)
        .env("PORT", "0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", examples.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.strip_prefix("listening on ").expect("the contract's first line");
    assert!(url.starts_with("ws://127.0.0.1:"));
    let mut c = Client::connect(&format!("{url}/?token=proc")).await;
    assert_eq!(c.ok("greet", json!({"name": "proc"})).await, "Hello, proc!");
    child.kill().await.unwrap();
}
