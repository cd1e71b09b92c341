//! The conformance example binary as a real process on a free loopback port: started, killed,
//! restarted on the same port, frozen (SIGSTOP) and thawed, as an outside client meets it.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the binary may take to listen.
const READY: Duration = Duration::from_secs(30);

/// The path of an example binary: `ZOCKET_<NAME>_BIN` if set, else built once with cargo (a
/// no-op when it is up to date: the test profile, as `cargo test` builds examples) next to this
/// test's own binary.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    if let Ok(bin) = std::env::var(format!("ZOCKET_{}_BIN", name.to_uppercase())) {
        return bin.into();
    }
    // TARGET/debug/deps/<test> -> TARGET/debug/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut build = std::process::Command::new(cargo);
        // What cargo set for this test process is not a build's environment: ring's build script
        // reruns when CARGO_MANIFEST_DIR changes, which would rebuild half the tree each time.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let set_by_cargo = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                || [
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_BIN_NAME",
                    "OUT_DIR",
                ]
                .contains(&name.as_str());
            if set_by_cargo {
                build.env_remove(&name);
            }
        }
        let status = build
            .args([
                "build",
                "--quiet",
                "--profile",
                "test",
                "--manifest-path",
                manifest,
                "--target-dir",
            ])
            .arg(profile_dir.parent().unwrap())
            .args(["--example", "conformance", "--example", "client"])
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --example conformance --example client failed"
        );
    });
    profile_dir.join("examples").join(name)
}

/// A running conformance server.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts the conformance binary on `port` (0: a free one) and waits until it listens.
    pub async fn start(port: u16) -> Server {
        // A port just freed may take a moment to bind again.
        for _ in 0..50 {
            if let Some(server) = Self::try_start(port).await {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the conformance server did not start on port {port}");
    }

    async fn try_start(port: u16) -> Option<Server> {
        let mut child = Command::new(example("conformance"))
            .env("PORT", port.to_string())
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run the conformance example");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(READY, lines.next_line()).await.ok()?.ok()??;
        let url = line.strip_prefix("listening on ws://127.0.0.1:")?;
        let port = url.trim().trim_end_matches('/').parse().ok()?;
        // Keep reading its stdout so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Server { child, port })
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Kills it at once (SIGKILL): its sockets drop without a close frame.
    pub async fn kill(mut self) -> u16 {
        let _ = self.child.kill().await;
        self.port
    }

    /// Freezes it (SIGSTOP): its sockets stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A frozen process cannot die until it is thawed.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}
