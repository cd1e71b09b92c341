//! permessage-deflate on the server's transport: bytes on the wire and server CPU per message,
//! compressed (without and with context takeover) against uncompressed, for chat-sized and
//! 16 KiB JSON messages. Prints a markdown table (the rows in BENCHMARKS.md).
//!
//! `cargo bench --bench deflate`. Each figure is the median of 5 runs on one thread of a
//! current-thread runtime, in CPU time of that thread (`/proc/thread-self/schedstat`, so other
//! processes on a busy machine do not inflate it, though they still share its caches). The
//! sockets write into a sink and read from memory: only the server's framing, compressing and
//! inflating is measured, no syscalls.
#![allow(missing_docs)]

use bytes::Bytes;
use miniz_oxide::MZFlush;
use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// CPU time of this thread so far, in ns.
fn cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat")
}

/// Measures CPU time from `new` to `elapsed`.
struct Instant(u64);

impl Instant {
    fn now() -> Self {
        Self(cpu_ns())
    }
    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(cpu_ns() - self.0)
    }
}
use tokio::io::{AsyncWrite, Join, empty, join};
use zocket::transport::{Agreed, Decoder, Incoming, RawSocket};

type Io = Join<tokio::io::Empty, Counted>;

/// A sink that counts the bytes written to it: the bytes on the wire.
struct Counted(Arc<AtomicUsize>);

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "hello", "anyone", "there", "the", "build", "is", "green", "again", "lunch", "at", "noon", "who", "wants",
    "coffee", "deploy", "friday", "no", "way", "ship", "it", "meeting", "moved", "to", "three", "thanks", "great",
    "work", "on", "release", "notes", "see", "you", "tomorrow", "bug", "fixed", "in", "main",
];
const USERS: &[&str] = &[
    "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances",
];

/// A chat message as the server broadcasts it (about 150 bytes).
fn chat(rng: &mut Rng) -> Bytes {
    let words = 6 + rng.next() % 10;
    let text: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
    Bytes::from(format!(
        r#"{{"type":"chat.message","payload":{{"room":"lobby","user":"{}","text":"{}","ts":{}}}}}"#,
        rng.pick(USERS),
        text.join(" "),
        1_732_900_000_000 + rng.next() % 100_000_000
    ))
}

/// A 16 KiB JSON state snapshot (a scoreboard of players).
fn snapshot(rng: &mut Rng) -> Bytes {
    let mut out = String::from(r#"{"type":"game.state","payload":{"players":["#);
    let mut i = 0;
    while out.len() < 16 * 1024 - 120 {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":{},"name":"{}-{}","score":{},"x":{:.2},"y":{:.2},"alive":{}}}"#,
            i,
            rng.pick(USERS),
            rng.next() % 1000,
            rng.next() % 100_000,
            (rng.next() % 100_000) as f64 / 100.0,
            (rng.next() % 100_000) as f64 / 100.0,
            rng.next() & 1 == 0
        ));
        i += 1;
    }
    out.push_str("]}}");
    Bytes::from(out)
}

#[derive(Clone, Copy)]
enum Mode {
    Off,
    Shared,
    Takeover,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Shared => "no context takeover",
            Mode::Takeover => "context takeover",
        }
    }
    fn agreed(self) -> Option<Agreed> {
        let takeover = matches!(self, Mode::Takeover);
        (!matches!(self, Mode::Off)).then_some(Agreed {
            server_no_context_takeover: !takeover,
            client_no_context_takeover: !takeover,
            server_max_window_bits: None,
            threshold: 0,
        })
    }
}

fn socket(mode: Mode, written: &Arc<AtomicUsize>) -> RawSocket<Io> {
    let mut socket = RawSocket::new(join(empty(), Counted(written.clone())), 1 << 20);
    if let Some(agreed) = mode.agreed() {
        socket.set_compression(agreed);
    }
    socket
}

/// The frame's length on the wire for a payload of `len` bytes.
fn framed(len: usize) -> usize {
    len + match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

fn deflate(compressor: &mut CompressorOxide, input: &[u8]) -> Vec<u8> {
    let mut out = vec![0; input.len() + 1024];
    let result = miniz_oxide::deflate::stream::deflate(compressor, input, &mut out, MZFlush::Sync);
    out.truncate(result.bytes_written - 4);
    out
}

/// CPU time each run takes at least (`schedstat` is updated at scheduler ticks, every few ms).
const RUN: std::time::Duration = std::time::Duration::from_millis(200);

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// ns of server CPU per message sent to one client, each message distinct, and the bytes
/// written per message.
async fn send_one_client(messages: &[Bytes], mode: Mode) -> (f64, f64) {
    let mut runs = Vec::new();
    let written = Arc::new(AtomicUsize::new(0));
    let mut bytes = 0.0;
    for run in 0..5 {
        written.store(0, Ordering::Relaxed);
        let mut socket = socket(mode, &written);
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < RUN {
            for message in messages {
                socket.send(false, message).await.unwrap();
            }
            if run == 0 && sent == 0 {
                bytes = written.load(Ordering::Relaxed) as f64 / messages.len() as f64;
            }
            sent += messages.len();
        }
        runs.push(start.elapsed().as_nanos() as f64 / sent as f64);
    }
    (median(runs), bytes)
}

/// ns of server CPU per recipient of one broadcast to `recipients` clients.
async fn broadcast(messages: &[Bytes], mode: Mode, recipients: usize) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let written = Arc::new(AtomicUsize::new(0));
        let mut sockets: Vec<RawSocket<Io>> = (0..recipients).map(|_| socket(mode, &written)).collect();
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < RUN {
            for message in messages.iter().take(20) {
                for socket in &mut sockets {
                    socket.send(false, message).await.unwrap();
                }
            }
            sent += 20 * recipients;
        }
        runs.push(start.elapsed().as_nanos() as f64 / sent as f64);
    }
    median(runs)
}

/// ns of server CPU per message received (decoded, and inflated if compressed).
fn receive(messages: &[Bytes], mode: Mode) -> f64 {
    let agreed = mode.agreed();
    let mut compressor = Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0)));
    let mut wire = Vec::new();
    for message in messages {
        let (payload, rsv1) = match agreed {
            None => (message.to_vec(), 0),
            Some(agreed) => {
                if agreed.client_no_context_takeover {
                    compressor.reset();
                }
                (deflate(&mut compressor, message), 0x40)
            }
        };
        wire.push(0x81 | rsv1);
        match payload.len() {
            len @ 0..=125 => wire.push(0x80 | len as u8),
            len => {
                wire.push(0x80 | 126);
                wire.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        wire.extend_from_slice(&[0; 4]);
        wire.extend_from_slice(&payload);
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut count = 0;
        while start.elapsed() < RUN {
            // A new decoder per pass: a client's context takeover runs through the stream once.
            let mut decoder = match agreed {
                None => Decoder::new(1 << 20),
                Some(agreed) => Decoder::with_deflate(1 << 20, &agreed),
            };
            decoder.feed(&wire);
            let before = count;
            while let Ok(Some(message)) = decoder.decode() {
                assert!(matches!(message, Incoming::Text(_)));
                count += 1;
            }
            assert_eq!(count - before, messages.len());
        }
        runs.push(start.elapsed().as_nanos() as f64 / count as f64);
    }
    median(runs)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let chats: Vec<Bytes> = (0..5000).map(|_| chat(&mut rng)).collect();
    let snapshots: Vec<Bytes> = (0..300).map(|_| snapshot(&mut rng)).collect();
    println!(
        "| payload | compression | bytes on the wire per message | send, ns/message (1 client) | broadcast to 1000, ns/recipient | receive, ns/message |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, messages) in [("chat JSON", &chats), ("16 KiB JSON", &snapshots)] {
        let mean = messages.iter().map(Bytes::len).sum::<usize>() as f64 / messages.len() as f64;
        let plain = messages.iter().map(|m| framed(m.len())).sum::<usize>() as f64 / messages.len() as f64;
        for mode in [Mode::Off, Mode::Shared, Mode::Takeover] {
            let (send, wire) = runtime.block_on(send_one_client(messages, mode));
            let fanout = runtime.block_on(broadcast(messages, mode, 1000));
            let received = receive(messages, mode);
            println!(
                "| {name} ({mean:.0} B) | {} | {wire:.0} ({:.0}%) | {send:.0} | {fanout:.0} | {received:.0} |",
                mode.name(),
                100.0 * wire / plain
            );
        }
    }
}
