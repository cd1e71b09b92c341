//! A real `redis-server` for one test: its own process on a free loopback port, no
//! persistence, killed when dropped. `scripts/redis-tests` installs Debian's redis-server.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a fresh server on a free port and waits until it answers there. A port found free
    /// can be taken before the server binds it (by another test's server, say, which would then
    /// answer for both): the server that answers must be this one, or another port is tried.
    pub fn start() -> Redis {
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut redis = Redis { port, child: None };
            if redis.launch() {
                return redis;
            }
        }
        panic!("redis-server found no free port in 10 tries");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL): no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (killing it first if it runs).
    pub fn restart(&mut self) {
        self.kill();
        assert!(self.launch(), "redis-server did not start again on port {}", self.port);
    }

    /// Starts a server on this port and waits until it answers; `false` if it exited instead
    /// (the port was taken).
    fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/redis-tests, which installs it");
        let ours = format!("process_id:{}", child.id());
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info = self.cli(&["INFO", "server"]).unwrap_or_default();
            if info.lines().any(|line| line.trim() == ours) {
                return true;
            }
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one command with redis-cli; its output, trimmed, or `None` if it failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (output.status.success() && !text.is_empty() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// How many connections subscribe to `channel` (the whole name, prefix included).
    pub fn subscribers(&self, channel: &str) -> usize {
        self.cli(&["PUBSUB", "NUMSUB", channel])
            .and_then(|out| out.lines().nth(1).and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// Waits until `channel` has exactly `count` subscribers.
    pub async fn await_subscribers(&self, channel: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.subscribers(channel);
            if now == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{channel} has {now} subscribers, not {count}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `up()` holds.
    pub async fn await_up(&self, up: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !up() {
            assert!(Instant::now() < deadline, "the node did not connect to Redis");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes raw bytes on `channel`, as a stranger to zocket would.
    pub fn publish(&self, channel: &str, message: &str) {
        self.cli(&["PUBLISH", channel, message]).expect("PUBLISH failed");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
