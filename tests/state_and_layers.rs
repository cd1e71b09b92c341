//! Application state in handlers, extractors and hooks; layers that see and replace replies.

use garde::Validate;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use zocket::{
    Call, CallError, ClientId, Disconnected, ErrorCode, FromCall, FromRef, Handle, Input, Next, NoHeaders, NoOutgoing,
    Reject, Reply, State, TS, Zocket,
};

#[derive(Clone)]
struct App {
    greeting: Arc<str>,
    counter: Counter,
}

/// A part of the state that handlers may take alone.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl FromRef<App> for Counter {
    fn from_ref(app: &App) -> Counter {
        app.counter.clone()
    }
}

#[derive(Debug)]
struct User {
    name: String,
}

#[derive(Deserialize, Validate, TS)]
struct Greet {
    #[garde(length(min = 1))]
    name: String,
}

/// An extractor that reads the state: the greeting for the calling user.
struct Greeting(String);

impl FromCall<NoOutgoing, User, App> for Greeting {
    async fn from_call(call: &Call<NoOutgoing, User, App>) -> Result<Self, CallError> {
        Ok(Greeting(format!("{}, {}", call.state().greeting, call.context().name)))
    }
}

async fn greet(State(app): State<App>, Input(g): Input<Greet>) -> String {
    format!("{}, {}!", app.greeting, g.name)
}

async fn count(State(Counter(n)): State<Counter>) -> usize {
    n.fetch_add(1, Ordering::SeqCst) + 1
}

async fn me(Greeting(text): Greeting) -> String {
    text
}

async fn fail() -> Result<(), CallError> {
    Err(std::io::Error::other("disk on fire"))?;
    Ok(())
}

/// Replaces every numeric reply with ten times its value, and refuses `secret`.
async fn tenfold(call: Call<NoOutgoing, User, App>, next: Next<NoOutgoing, User, App>) -> Result<Reply, CallError> {
    if call.route() == "secret" {
        return Err(CallError::forbidden("not through this layer"));
    }
    let reply = next.run(call).await?;
    match reply.downcast_ref::<usize>() {
        Some(n) => Ok(Reply::new(n * 10)),
        None => Ok(reply),
    }
}

fn server(disconnects: Counter) -> zocket::Server<NoHeaders, NoOutgoing, User, App> {
    let app = App {
        greeting: "Hello".into(),
        counter: Counter::default(),
    };
    let zo = Zocket::<NoHeaders, NoOutgoing>::new()
        .with_state(app)
        .on_connect(|_: NoHeaders, id: ClientId, State(app): State<App>| async move {
            if app.greeting.is_empty() {
                return Err(Reject::unauthorized("no greeting"));
            }
            Ok(User {
                name: format!("user-{}", &id.as_str()[..4]),
            })
        })
        .on_disconnect(
            move |_: Disconnected<User>, _: Handle<NoOutgoing>, State(Counter(n)): State<Counter>| {
                let disconnects = disconnects.clone();
                async move {
                    n.fetch_add(100, Ordering::SeqCst);
                    disconnects.0.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
    let router = zo
        .router()
        .route("greet", greet)
        .route("count", count)
        .route("me", me)
        .route("fail", fail)
        .route("secret", count)
        .layer(tenfold);
    zo.server(router)
}

#[tokio::test]
async fn handlers_extractors_and_hooks_see_the_state() {
    let disconnects = Counter::default();
    let server = server(disconnects.clone());
    let mut c = server.test_client(NoHeaders {}).await.unwrap();
    assert_eq!(
        c.call_route("greet", json!({"name": "Ada"})).await.unwrap(),
        "Hello, Ada!"
    );
    let me = c.call_route("me", Value::Null).await.unwrap();
    assert!(me.as_str().unwrap().starts_with("Hello, user-"), "{me}");
    // The layer multiplies the counter's replies by ten.
    assert_eq!(c.call_route("count", Value::Null).await.unwrap(), 10);
    assert_eq!(c.call_route("count", Value::Null).await.unwrap(), 20);
    c.close().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while disconnects.0.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("on_disconnect ran");
    // on_disconnect added 100 to the same counter the handlers use.
    let mut d = server.test_client(NoHeaders {}).await.unwrap();
    assert_eq!(d.call_route("count", Value::Null).await.unwrap(), 1030);
}

#[tokio::test]
async fn a_layer_refuses_and_errors_keep_their_cause() {
    let server = server(Counter::default());
    let mut c = server.test_client(NoHeaders {}).await.unwrap();
    let refused = c.call_route("secret", Value::Null).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    assert_eq!(refused.message, "not through this layer");
    let failed = c.call_route("fail", Value::Null).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::Internal);
    assert_eq!(
        failed.message, "Internal server error",
        "the cause never reaches the client"
    );
}

#[test]
fn call_error_is_a_std_error_with_its_cause() {
    let error = CallError::from(std::io::Error::other("disk on fire"));
    let as_std: &dyn std::error::Error = &error;
    assert_eq!(as_std.source().unwrap().to_string(), "disk on fire");
    assert_eq!(CallError::forbidden("no").code(), ErrorCode::Forbidden);
    assert!(std::error::Error::source(&CallError::forbidden("no")).is_none());
}

/// A layer that panics while making its future (`early`), or inside it (`late`).
fn panicking_layer(
    call: Call<NoOutgoing>,
    next: Next<NoOutgoing>,
) -> impl std::future::Future<Output = Result<Reply, CallError>> + Send {
    if call.route() == "early" {
        panic!("the layer panics before its future");
    }
    async move {
        if call.route() == "late" {
            panic!("the layer panics in its future");
        }
        next.run(call).await
    }
}

#[tokio::test]
async fn a_layer_that_panics_answers_internal_and_the_connection_goes_on() {
    async fn ok() -> &'static str {
        "ok"
    }
    let zo = Zocket::<NoHeaders, NoOutgoing>::new();
    let router = zo
        .router()
        .route("early", ok)
        .route("late", ok)
        .route("ok", ok)
        .layer(panicking_layer);
    let server = zo.server(router);
    let mut c = server.test_client(NoHeaders {}).await.unwrap();
    for route in ["early", "late", "early"] {
        let error = c.call_route(route, Value::Null).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal, "{route}");
    }
    assert_eq!(c.call_route("ok", Value::Null).await.unwrap(), "ok");
}
