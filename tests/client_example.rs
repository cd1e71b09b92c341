//! `examples/client.rs` as a user runs it: a real process against the conformance binary,
//! which is killed and restarted meanwhile. Its output lines are a contract (issue 11):
//! `open`, `closed CODE REASON`, `reconnecting ATTEMPT DELAY_MS`, `reply math.add RESULT`,
//! `error CODE MESSAGE`, `event ROUTE JSON`.

#[path = "../examples/support/conformance_api.rs"]
mod api;
#[path = "support/process.rs"]
mod process;

use api::{ChatText, Out, PushTick};
use process::Server;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};
use zocket_client::Client;

/// Reads the example's lines, keeping all of them for the checks at the end.
struct Output {
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Output {
    /// The next line that starts with `kind`, within 10 s.
    async fn expect(&mut self, kind: &str) -> String {
        let wait = async {
            loop {
                let line = self.lines.next_line().await.unwrap().expect("the example exited");
                self.seen.push(line.clone());
                if line == kind || line.starts_with(&format!("{kind} ")) {
                    return line;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` line; saw {:#?}", self.seen))
    }
}

/// The result of a `reply math.add RESULT` line.
fn sum(line: &str) -> u64 {
    line.strip_prefix("reply math.add ").unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_example_client_survives_a_restart_of_the_server() {
    let test = async {
        let server = Server::start(0).await;
        let mut child = Command::new(process::example("client"))
            .env("ZOCKET_URL", server.url())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run the client example");
        let mut out = Output {
            lines: BufReader::new(child.stdout.take().unwrap()).lines(),
            seen: Vec::new(),
        };
        assert_eq!(out.expect("open").await, "open");
        let first = sum(&out.expect("reply").await);
        assert!(sum(&out.expect("reply").await) > first);

        // Events it subscribed to, as `event ROUTE JSON`.
        let pusher = Client::<Out>::connect(server.url())
            .header("token", "pusher")
            .await
            .unwrap();
        pusher.call(PushTick { n: 7 }).await.unwrap();
        assert_eq!(out.expect("event").await, r#"event system.tick {"n":7}"#);
        pusher.call(ChatText { text: "hello".into() }).await.unwrap();
        assert_eq!(
            out.expect("event").await,
            r#"event chat.onMessage {"text":"hello","from":"pusher"}"#
        );
        pusher.close().await;

        let port = server.kill().await;
        let closed = out.expect("closed").await;
        assert!(closed.starts_with("closed 1006 "), "{closed}");
        let reconnecting = out.expect("reconnecting").await;
        let fields: Vec<&str> = reconnecting.split(' ').collect();
        assert_eq!(fields[1], "1", "{reconnecting}");
        assert!(fields[2].parse::<u64>().unwrap() <= 500, "{reconnecting}");

        let _server = Server::start(port).await;
        assert_eq!(out.expect("open").await, "open");
        let after = sum(&out.expect("reply").await);
        sum(&out.expect("reply").await);

        // No call was left hanging: the calls follow one another, and each one that did not
        // reply (the one in flight at the kill, if any) printed an error.
        let replies: Vec<u64> = out
            .seen
            .iter()
            .filter(|l| l.starts_with("reply "))
            .map(|l| sum(l))
            .collect();
        let errors = out.seen.iter().filter(|l| l.starts_with("error ")).count() as u64;
        assert!(replies.windows(2).all(|w| w[0] < w[1]), "{:#?}", out.seen);
        let calls = replies.last().unwrap() - replies[0] + 1;
        assert_eq!(calls, replies.len() as u64 + errors, "{:#?}", out.seen);
        assert!(after > first);
        let kinds = ["open", "closed", "reconnecting", "reply", "error", "event"];
        for line in &out.seen {
            assert!(
                kinds.iter().any(|k| line.split(' ').next() == Some(k)),
                "unexpected line {line:?}"
            );
        }
        child.kill().await.unwrap();
    };
    process::example("client");
    tokio::time::timeout(Duration::from_secs(90), test)
        .await
        .expect("the test took too long");
}
