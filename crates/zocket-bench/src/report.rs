//! What a run measured, and the one JSON line that reports it.

use serde_json::{Value, json};

use crate::args::{Args, Scenario};
use crate::latency::Summary;
use crate::procfs::{self, Proc, Sample};

/// Counts every scenario fills in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// Length of the measured window, in seconds.
    pub(crate) window_s: f64,
    /// Completed calls (rpc), correct deliveries (broadcast, rooms) or open connections (idle).
    pub(crate) count: u64,
    /// What `count` counts, per second: "calls/s", "deliveries/s"; `None` for idle.
    pub(crate) unit: Option<&'static str>,
    /// Latencies: call round trips, fan-out delays, or connect + first echo (idle).
    pub(crate) latency: Summary,
    /// Deliveries expected (broadcast, rooms).
    pub(crate) expected: Option<u64>,
    /// Shouts sent (broadcast, rooms).
    pub(crate) sent: Option<u64>,
    /// Expected deliveries that never arrived.
    pub(crate) lost: u64,
    /// Replies that do not match their call, or deliveries to a client outside the room.
    pub(crate) wrong: u64,
    /// Error frames, unreadable frames, failed sends, calls without a reply in time.
    pub(crate) errors: u64,
    /// Connections the server closed or broke during the run.
    pub(crate) disconnects: u64,
    /// Connections the run used.
    pub(crate) connections: usize,
    /// rpc: calls written, for `frames_per_write`.
    pub(crate) frames_written: u64,
    /// rpc: writes (flushes) that carried at least one call.
    pub(crate) writes: u64,
    /// Seconds spent opening connections (and joining rooms) before the window.
    pub(crate) setup_s: f64,
    /// idle with `--fanout`: the one broadcast to every connection.
    pub(crate) fanout: Option<FanoutOnce>,
    /// idle: the servers' peak resident set size (`VmHWM`), summed, at the end of the run.
    pub(crate) server_peak_rss_kib: Option<u64>,
}

/// One broadcast to every open connection (idle `--fanout`).
#[derive(Debug, Clone, Default)]
pub(crate) struct FanoutOnce {
    /// Connections that got it.
    pub(crate) delivered: u64,
    /// Connections that did not get it in time.
    pub(crate) lost: u64,
    /// Delay from the send to the median delivery.
    pub(crate) p50_ms: f64,
    /// Delay from the send to the 99th-percentile delivery.
    pub(crate) p99_ms: f64,
    /// Delay from the send to the last delivery.
    pub(crate) last_ms: f64,
    /// Server CPU from the send until every receiver was done.
    pub(crate) server_cpu_s: Option<f64>,
    /// Server CPU for closing every connection afterwards (until it stopped using any).
    pub(crate) close_cpu_s: Option<f64>,
}

/// CPU and memory readings at the start and end of the measured window.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The server processes, summed (several nodes of one app).
    servers: Vec<Proc>,
    me: Proc,
    ticks_per_s: f64,
}

/// Readings taken by [`Probe::start`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    server: Option<Sample>,
    me: Option<Sample>,
    load: Option<f64>,
    machine_busy_s: Option<f64>,
    kernel_threads_s: Option<f64>,
    at: std::time::Instant,
}

/// CPU and memory over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Usage {
    /// Server CPU seconds in the window.
    pub(crate) server_cpu_s: Option<f64>,
    /// Server RSS at the start, KiB.
    pub(crate) server_rss_before_kib: Option<u64>,
    /// Server RSS at the end, KiB.
    pub(crate) server_rss_after_kib: Option<u64>,
    /// Generator CPU seconds in the window.
    pub(crate) generator_cpu_s: Option<f64>,
    /// Generator RSS at the end, KiB.
    pub(crate) generator_rss_kib: Option<u64>,
    /// The machine's 1-minute load average at the start and the end (other work disturbs a run).
    pub(crate) loadavg_1m: Option<(f64, f64)>,
    /// CPU seconds kernel threads used in the window (mostly loopback work for server and generator);
    /// a lower bound, as threads that exit during the window are not counted.
    pub(crate) kernel_threads_cpu_s: Option<f64>,
    /// CPU seconds the rest of the machine (neither the server, the generator nor kernel threads)
    /// used in the window: other work that disturbed the run.
    pub(crate) other_cpu_s: Option<f64>,
    /// Wall-clock seconds from `start` to `finish`: the span the CPU figures cover.
    pub(crate) wall_s: f64,
}

impl Probe {
    /// Reads the server `pids` (none, one, or every node of a cluster) and this process.
    pub(crate) fn new(pids: &[u32], ticks_per_s: f64) -> Self {
        Self {
            servers: pids.iter().map(|&pid| Proc::new(Some(pid), ticks_per_s)).collect(),
            me: Proc::new(None, ticks_per_s),
            ticks_per_s,
        }
    }

    /// Fails if a server pid was given but cannot be read.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self.servers.iter().any(|server| server.sample().is_none()) {
            true => Err("cannot read a server's /proc entry (--pid)".into()),
            false => Ok(()),
        }
    }

    /// The servers' CPU time and RSS, summed; `None` without servers or if one is unreadable.
    fn server_sample(&self) -> Option<Sample> {
        if self.servers.is_empty() {
            return None;
        }
        self.servers
            .iter()
            .try_fold(Sample { cpu_s: 0.0, rss_kib: 0 }, |sum, server| {
                let one = server.sample()?;
                Some(Sample {
                    cpu_s: sum.cpu_s + one.cpu_s,
                    rss_kib: sum.rss_kib + one.rss_kib,
                })
            })
    }

    /// The servers' CPU seconds so far, summed.
    pub(crate) fn server_cpu_s(&self) -> Option<f64> {
        self.server_sample().map(|s| s.cpu_s)
    }

    /// The servers' peak resident set sizes so far, summed.
    pub(crate) fn server_peak_rss_kib(&self) -> Option<u64> {
        if self.servers.is_empty() {
            return None;
        }
        self.servers.iter().map(Proc::peak_rss_kib).sum()
    }

    /// Readings at the start of the window.
    pub(crate) fn start(&self) -> Start {
        Start {
            server: self.server_sample(),
            me: self.me.sample(),
            load: procfs::loadavg_1m(),
            machine_busy_s: procfs::machine_busy_s(self.ticks_per_s),
            kernel_threads_s: procfs::kernel_threads_s(self.ticks_per_s),
            at: std::time::Instant::now(),
        }
    }

    /// Usage from `start` to now.
    pub(crate) fn finish(&self, start: Start) -> Usage {
        let server = self.server_sample();
        let me = self.me.sample();
        let busy = start
            .machine_busy_s
            .zip(procfs::machine_busy_s(self.ticks_per_s))
            .map(|(a, b)| b - a);
        let kernel = start
            .kernel_threads_s
            .zip(procfs::kernel_threads_s(self.ticks_per_s))
            // A kworker that exits takes its time with it: the sum can shrink; never report less than 0.
            .map(|(a, b)| (b - a).max(0.0));
        let server_cpu_s = start.server.zip(server).map(|(a, b)| b.cpu_s - a.cpu_s);
        let generator_cpu_s = start.me.zip(me).map(|(a, b)| b.cpu_s - a.cpu_s);
        Usage {
            server_cpu_s,
            server_rss_before_kib: start.server.map(|s| s.rss_kib),
            server_rss_after_kib: server.map(|s| s.rss_kib),
            generator_cpu_s,
            generator_rss_kib: me.map(|s| s.rss_kib),
            loadavg_1m: start.load.zip(procfs::loadavg_1m()),
            kernel_threads_cpu_s: kernel,
            other_cpu_s: busy.map(|b| {
                let ours = server_cpu_s.unwrap_or(0.0) + generator_cpu_s.unwrap_or(0.0) + kernel.unwrap_or(0.0);
                (b - ours).max(0.0)
            }),
            wall_s: start.at.elapsed().as_secs_f64(),
        }
    }
}

/// Rounds to 3 decimals, for readable output.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The JSON line of one run.
pub(crate) fn to_json(args: &Args, out: &Outcome, usage: &Usage) -> Value {
    let throughput = out
        .unit
        .filter(|_| out.window_s > 0.0)
        .map(|_| r3(out.count as f64 / out.window_s));
    let work_per_cpu = match (out.unit, usage.server_cpu_s) {
        (Some(_), Some(cpu)) if cpu > 0.0 => Some(r3(out.count as f64 / cpu)),
        _ => None,
    };
    let mem_per_conn = match (usage.server_rss_before_kib, usage.server_rss_after_kib) {
        (Some(before), Some(after)) if args.scenario == Scenario::Idle && out.connections > 0 => {
            Some((after as f64 - before as f64) * 1024.0 / out.connections as f64)
        }
        _ => None,
    };
    // Headroom: the share of the machine (wall time x cores) each side used over the window. A
    // generator near its share of the cores could itself be what limits the run.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = |cpu: Option<f64>| {
        cpu.filter(|_| usage.wall_s > 0.0)
            .map(|cpu| r3(cpu / (usage.wall_s * cores as f64)))
    };
    let frames_per_write =
        (args.scenario == Scenario::Rpc && out.writes > 0).then(|| r3(out.frames_written as f64 / out.writes as f64));
    let fanout = out.fanout.as_ref().map(|f| {
        json!({
            "delivered": f.delivered,
            "lost": f.lost,
            "p50_ms": r3(f.p50_ms),
            "p99_ms": r3(f.p99_ms),
            "last_ms": r3(f.last_ms),
            "server_cpu_s": f.server_cpu_s.map(r3),
            "close_cpu_s": f.close_cpu_s.map(r3),
        })
    });
    let l = &out.latency;
    let mut report = json!({
        "label": args.label,
        "scenario": args.scenario.name(),
        "codec": args.codec.name(),
        "url": args.url,
        "params": {
            "clients": args.clients,
            "in_flight": args.in_flight,
            "pipelined": args.pipelined,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rate": args.rate,
            "rooms": args.rooms,
        },
        "connections": out.connections,
        "setup_s": r3(out.setup_s),
        "window_s": r3(out.window_s),
        "count": out.count,
        "unit": out.unit,
        "throughput": throughput,
        "latency_ms": {
            "count": l.count,
            "mean": r3(l.mean),
            "p50": r3(l.p50),
            "p90": r3(l.p90),
            "p99": r3(l.p99),
            "p999": r3(l.p999),
            "max": r3(l.max),
        },
        "sent": out.sent,
        "expected": out.expected,
        "lost": out.lost,
        "wrong": out.wrong,
        "errors": out.errors,
        "disconnects": out.disconnects,
        "server_pid": args.pid,
        "servers": args.urls.len(),
        "server_pids": args.pids,
        "server_cpu_s": usage.server_cpu_s.map(r3),
        "work_per_server_cpu_s": work_per_cpu,
        "server_rss_before_kib": usage.server_rss_before_kib,
        "server_rss_after_kib": usage.server_rss_after_kib,
        "mem_per_conn_bytes": mem_per_conn.map(f64::round),
        "mem_per_conn_kib": mem_per_conn.map(|b| r3(b / 1024.0)),
        "generator_cpu_s": usage.generator_cpu_s.map(r3),
        "generator_rss_kib": usage.generator_rss_kib,
        "cores": cores,
        "probe_wall_s": r3(usage.wall_s),
        "generator_cpu_share": share(usage.generator_cpu_s),
        "server_cpu_share": share(usage.server_cpu_s),
        "frames_per_write": frames_per_write,
        "sources": args.sources,
        "server_peak_rss_kib": out.server_peak_rss_kib,
        "fanout": fanout,
        "loadavg_1m_start": usage.loadavg_1m.map(|l| l.0),
        "loadavg_1m_end": usage.loadavg_1m.map(|l| l.1),
        "kernel_threads_cpu_s": usage.kernel_threads_cpu_s.map(r3),
        "other_cpu_s": usage.other_cpu_s.map(r3),
    });
    // Outside the literal: `json!` of that size reaches the macro recursion limit.
    report["calls_written"] = json!((args.scenario == Scenario::Rpc).then_some(out.frames_written));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, parse};

    fn args(line: &str) -> Args {
        match parse(line.split_whitespace().map(String::from)).unwrap() {
            Command::Run(a) => *a,
            Command::Help => unreachable!(),
        }
    }

    #[test]
    fn throughput_and_work_per_cpu_second() {
        let a = args("--url ws://h:1/ --scenario rpc --label z --pid 7");
        let out = Outcome {
            window_s: 10.0,
            count: 50_000,
            unit: Some("calls/s"),
            connections: 50,
            ..Outcome::default()
        };
        let usage = Usage {
            server_cpu_s: Some(4.0),
            server_rss_before_kib: Some(1000),
            server_rss_after_kib: Some(1100),
            generator_cpu_s: Some(3.0),
            generator_rss_kib: Some(9),
            loadavg_1m: Some((0.5, 0.75)),
            kernel_threads_cpu_s: Some(0.5),
            other_cpu_s: Some(0.25),
            wall_s: 10.0,
        };
        let v = to_json(&a, &out, &usage);
        assert_eq!(v["throughput"], 5000.0);
        assert_eq!(v["work_per_server_cpu_s"], 12_500.0);
        // Memory per connection is an idle-scenario figure.
        assert!(v["mem_per_conn_bytes"].is_null());
        assert_eq!(v["label"], "z");
        assert_eq!(v["scenario"], "rpc");
        assert_eq!(v["server_pid"], 7);
        assert_eq!(v["params"]["clients"], 50);
        assert_eq!(v["loadavg_1m_end"], 0.75);
        assert_eq!(v["other_cpu_s"], 0.25);
        assert_eq!(v["kernel_threads_cpu_s"], 0.5);
        // Headroom: CPU-s over wall time x cores.
        let cores = std::thread::available_parallelism().unwrap().get() as f64;
        assert_eq!(v["cores"], cores as u64);
        assert_eq!(v["generator_cpu_share"], r3(3.0 / (10.0 * cores)));
        assert_eq!(v["server_cpu_share"], r3(4.0 / (10.0 * cores)));
        assert_eq!(v["params"]["pipelined"], false);
        // No writes counted: no ratio.
        assert!(v["frames_per_write"].is_null());
        let piped = Outcome {
            frames_written: 160,
            writes: 20,
            ..out
        };
        assert_eq!(to_json(&a, &piped, &usage)["frames_per_write"], 8.0);
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn idle_memory_per_connection() {
        let a = args("--url ws://h:1/ --scenario idle");
        let out = Outcome {
            count: 100,
            connections: 100,
            ..Outcome::default()
        };
        let usage = Usage {
            server_rss_before_kib: Some(1000),
            server_rss_after_kib: Some(1200),
            ..Usage::default()
        };
        let v = to_json(&a, &out, &usage);
        assert_eq!(v["mem_per_conn_bytes"], 2048.0);
        assert_eq!(v["mem_per_conn_kib"], 2.0);
        assert!(v["throughput"].is_null());
    }

    #[test]
    fn missing_readings_are_null() {
        let a = args("--url ws://h:1/ --scenario idle");
        let out = Outcome {
            count: 5,
            connections: 5,
            ..Outcome::default()
        };
        let v = to_json(&a, &out, &Usage::default());
        assert!(v["throughput"].is_null());
        assert!(v["work_per_server_cpu_s"].is_null());
        assert!(v["mem_per_conn_bytes"].is_null());
        assert!(v["server_pid"].is_null());
        assert!(v["generator_cpu_share"].is_null());
    }

    #[test]
    fn probing_this_process_measures_cpu() {
        let probe = Probe::new(&[std::process::id()], crate::procfs::ticks_per_second());
        probe.check().unwrap();
        let start = probe.start();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 100 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let usage = probe.finish(start);
        assert!(usage.server_cpu_s.unwrap() > 0.0, "{usage:?}");
        assert!(usage.generator_cpu_s.unwrap() > 0.0, "{usage:?}");
        assert!(usage.other_cpu_s.unwrap() >= 0.0, "{usage:?}");
        assert!(usage.wall_s >= 0.1, "{usage:?}");
        assert!(Probe::new(&[u32::MAX], 100.0).check().is_err());
    }
}
