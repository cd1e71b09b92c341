//! The command line, hand-rolled to keep the build lean. Every option has a per-scenario default
//! taken from `shared/bench-app.md`.

use crate::frame::Codec;

/// Usage text for `--help`.
pub(crate) const USAGE: &str = "\
zocket-bench: load generator for the bench app (shared/bench-app.md), Zocket v1 frames.
Prints one JSON line of results on stdout; progress goes to stderr.

USAGE: zocket-bench --url ws://127.0.0.1:3001/ --scenario rpc|broadcast|rooms|idle [OPTIONS]

OPTIONS (defaults per scenario: rpc / broadcast / rooms / idle)
  --url URL,URL,...      several nodes of one app (a cluster): client i connects to URL i mod N,
                         the broadcast sender to the first
  --pid PID[,PID...]     server processes to read CPU time and RSS from (/proc/PID), summed
  --clients N            connections (50 / 1000 / 1000 / 5000)
  --in-flight N          rpc: calls in flight per client (1)
  --pipelined            rpc: write calls back to back, many per write: all N at the start, then
                         refill only once at least half the slots (N/2, rounded up) are free,
                         every free slot in one write (default: refill after every wake-up)
  --duration SECS        measured time (10; idle: none)
  --warmup SECS          rpc: unmeasured time before the window (1)
  --rate N               broadcast: shouts/s from the one sender (100);
                         rooms: shouts/s in all, spread over one sender per room (1000)
  --rooms N              rooms: how many rooms (10)
  --drain SECS           broadcast/rooms: longest wait for late deliveries after sending (5)
  --settle SECS          idle: wait after the last connection before reading RSS (2)
  --fanout               idle: then one shout from the first connection to all of them; reports
                         the time until the last delivery and the server CPU it took
  --listen               idle: instead, wait (up to --drain SECS) for one shout sent to all by
                         another process (another zocket-bench's --fanout, to other nodes of one
                         app): past one process's open-files limit; delays on the wall clock
  --delays FILE          idle --fanout/--listen: write each delivery's delay (ms), one per line
  --hold SECS            idle --fanout/--listen: keep the connections open this long after the
                         last delivery before closing them (0), so that several processes close
                         theirs only once every one has heard the shout
  --sources N            bind connections to 127.0.0.1 .. 127.0.0.N in turn, each with its own
                         ephemeral port range (for more than ~28 000 connections); loopback URLs
                         only (1: the system picks)
  --codec json|msgpack   wire format (json); msgpack offers subprotocol zocket.v1.msgpack
  --label NAME           copied into the results (the server's name)
  --concurrency N        connections opened at once during setup (200)
  --connect-timeout SECS per connection, handshake included (10)
  --threads N            generator runtime worker threads (2)
  --deadline SECS        hard limit for the whole run (default: computed from the above)
  -h, --help             this text

Exit status: 0 results printed; 1 setup failed (message on stderr); 2 bad usage; 3 deadline hit.";

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// `bench.echo` calls, N in flight per client.
    Rpc,
    /// `bench.shout` from one client to everyone.
    Broadcast,
    /// `bench.roomShout` into rooms.
    Rooms,
    /// Idle connections, for memory.
    Idle,
}

impl Scenario {
    /// The name used on the command line and in results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Rpc => "rpc",
            Scenario::Broadcast => "broadcast",
            Scenario::Rooms => "rooms",
            Scenario::Idle => "idle",
        }
    }
}

/// A parsed command line, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Args {
    pub(crate) url: String,
    /// Every server URL (`--url` split at commas).
    pub(crate) urls: Vec<String>,
    pub(crate) scenario: Scenario,
    pub(crate) codec: Codec,
    pub(crate) label: String,
    pub(crate) pid: Option<u32>,
    /// Every server pid (`--pid` split at commas); `pid` is the first.
    pub(crate) pids: Vec<u32>,
    pub(crate) clients: usize,
    pub(crate) in_flight: usize,
    /// rpc: batch refills (`--pipelined`).
    pub(crate) pipelined: bool,
    /// idle: one broadcast to all after the memory reading (`--fanout`).
    pub(crate) fanout: bool,
    /// idle: wait for a shout another process sends (`--listen`).
    pub(crate) listen: bool,
    /// idle: where to write each delivery's delay (`--delays`).
    pub(crate) delays: Option<String>,
    /// idle: seconds to keep the connections after the shout was heard (`--hold`).
    pub(crate) hold: f64,
    /// Loopback source addresses to spread connections over (`--sources`).
    pub(crate) sources: usize,
    pub(crate) duration: f64,
    pub(crate) warmup: f64,
    pub(crate) rate: f64,
    pub(crate) rooms: usize,
    pub(crate) drain: f64,
    pub(crate) settle: f64,
    pub(crate) concurrency: usize,
    pub(crate) connect_timeout: f64,
    pub(crate) threads: usize,
    pub(crate) deadline: f64,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Run a scenario.
    Run(Box<Args>),
    /// Print [`USAGE`].
    Help,
}

/// Parses the arguments (without the program name).
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut url = None;
    let mut scenario = None;
    let mut codec = Codec::Json;
    let mut label = None;
    let mut pid = None;
    let mut pipelined = false;
    let mut fanout = false;
    let mut listen = false;
    let mut delays = None;
    let mut hold = None;
    let mut sources = 1;
    let mut pids = Vec::new();
    let (mut clients, mut in_flight, mut duration, mut warmup, mut rate) = (None, None, None, None, None);
    let (mut rooms, mut drain, mut settle, mut concurrency) = (None, None, None, None);
    let (mut connect_timeout, mut threads, mut deadline) = (None, None, None);

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        if flag == "--pipelined" || flag == "--fanout" || flag == "--listen" {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            match flag.as_str() {
                "--pipelined" => pipelined = true,
                "--listen" => listen = true,
                _ => fanout = true,
            }
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--scenario" => {
                scenario = Some(match value()?.as_str() {
                    "rpc" => Scenario::Rpc,
                    "broadcast" => Scenario::Broadcast,
                    "rooms" => Scenario::Rooms,
                    "idle" => Scenario::Idle,
                    other => return Err(format!("unknown scenario {other:?} (rpc, broadcast, rooms, idle)")),
                })
            }
            "--codec" => {
                codec = match value()?.as_str() {
                    "json" => Codec::Json,
                    "msgpack" => Codec::Msgpack,
                    other => return Err(format!("unknown codec {other:?} (json, msgpack)")),
                }
            }
            "--label" => label = Some(value()?),
            "--delays" => delays = Some(value()?),
            "--pid" => {
                let list = value()?;
                pids = list
                    .split(',')
                    .map(|p| number(&flag, p))
                    .collect::<Result<Vec<u32>, _>>()?;
                pid = pids.first().copied();
            }
            "--clients" => clients = Some(positive(&flag, &value()?)?),
            "--in-flight" => in_flight = Some(positive(&flag, &value()?)?),
            "--duration" => duration = Some(seconds(&flag, &value()?)?),
            "--warmup" => warmup = Some(seconds(&flag, &value()?)?),
            "--rate" => rate = Some(seconds(&flag, &value()?)?),
            "--rooms" => rooms = Some(positive(&flag, &value()?)?),
            "--drain" => drain = Some(seconds(&flag, &value()?)?),
            "--settle" => settle = Some(seconds(&flag, &value()?)?),
            "--hold" => hold = Some(seconds(&flag, &value()?)?),
            "--concurrency" => concurrency = Some(positive(&flag, &value()?)?),
            "--connect-timeout" => connect_timeout = Some(seconds(&flag, &value()?)?),
            "--threads" => threads = Some(positive(&flag, &value()?)?),
            "--sources" => sources = positive(&flag, &value()?)?,
            "--deadline" => deadline = Some(seconds(&flag, &value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }

    let url = url.ok_or("--url is required")?;
    let urls: Vec<String> = url.split(',').map(str::to_owned).collect();
    if let Some(bad) = urls.iter().find(|url| !url.starts_with("ws://")) {
        return Err(format!("--url must be a ws:// URL, got {bad:?}"));
    }
    let scenario = scenario.ok_or("--scenario is required")?;
    let (default_clients, default_rate) = match scenario {
        Scenario::Rpc => (50, 0.0),
        Scenario::Broadcast => (1000, 100.0),
        Scenario::Rooms => (1000, 1000.0),
        Scenario::Idle => (5000, 0.0),
    };
    let clients = clients.unwrap_or(default_clients);
    let rate = rate.unwrap_or(default_rate);
    if matches!(scenario, Scenario::Broadcast | Scenario::Rooms) && rate <= 0.0 {
        return Err("--rate must be above 0".into());
    }
    let rooms = rooms.unwrap_or(10);
    if scenario == Scenario::Rooms && rooms > clients {
        return Err(format!("--rooms {rooms} needs at least as many --clients ({clients})"));
    }
    let duration = if scenario == Scenario::Idle {
        0.0
    } else {
        duration.unwrap_or(10.0)
    };
    let warmup = if scenario == Scenario::Rpc {
        warmup.unwrap_or(1.0)
    } else {
        0.0
    };
    if fanout && scenario != Scenario::Idle {
        return Err("--fanout belongs to the idle scenario".into());
    }
    if listen && scenario != Scenario::Idle {
        return Err("--listen belongs to the idle scenario".into());
    }
    if listen && fanout {
        return Err("--listen and --fanout exclude each other (one process sends, others listen)".into());
    }
    if (delays.is_some() || hold.is_some()) && !(fanout || listen) {
        return Err("--delays and --hold need --fanout or --listen".into());
    }
    let hold = hold.unwrap_or(0.0);
    if sources > 1 && urls.iter().any(|url| !url.starts_with("ws://127.")) {
        return Err("--sources needs loopback URLs (ws://127.x.x.x)".into());
    }
    if sources > 254 {
        return Err("--sources: at most 254".into());
    }
    let drain = drain.unwrap_or(5.0);
    let settle = settle.unwrap_or(2.0);
    let concurrency = concurrency.unwrap_or(200);
    let connect_timeout = connect_timeout.unwrap_or(10.0);
    // Setup: waves of `concurrency` connections, each bounded by the connect timeout (and a join).
    let setup = (clients.div_ceil(concurrency) as f64 * 2.0 * connect_timeout).min(300.0);
    let fanout_time = if fanout { 60.0 } else { 0.0 };
    let deadline = deadline.unwrap_or(setup + warmup + duration + drain + settle + fanout_time + hold + 30.0);
    Ok(Command::Run(Box::new(Args {
        label: label.unwrap_or_else(|| url.clone()),
        url,
        urls,
        scenario,
        codec,
        pid,
        pids,
        clients,
        in_flight: in_flight.unwrap_or(1),
        pipelined,
        fanout,
        listen,
        delays,
        hold,
        sources,
        duration,
        warmup,
        rate,
        rooms,
        drain,
        settle,
        concurrency,
        connect_timeout,
        threads: threads.unwrap_or(2),
        deadline,
    })))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: not a number: {value:?}"))
}

fn positive(flag: &str, value: &str) -> Result<usize, String> {
    match number(flag, value)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn seconds(flag: &str, value: &str) -> Result<f64, String> {
    let s: f64 = number(flag, value)?;
    if s.is_finite() && s >= 0.0 {
        Ok(s)
    } else {
        Err(format!("{flag} must be a number >= 0, got {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Args, String> {
        match parse(line.split_whitespace().map(String::from))? {
            Command::Run(args) => Ok(*args),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_follow_the_bench_app() {
        let rpc = run("--url ws://h:1/ --scenario rpc").unwrap();
        assert_eq!(
            (rpc.clients, rpc.in_flight, rpc.duration, rpc.warmup),
            (50, 1, 10.0, 1.0)
        );
        assert_eq!(rpc.codec, Codec::Json);
        assert!(!rpc.pipelined);
        assert_eq!(rpc.label, "ws://h:1/");
        let b = run("--url ws://h:1/ --scenario broadcast").unwrap();
        assert_eq!((b.clients, b.rate, b.duration, b.warmup), (1000, 100.0, 10.0, 0.0));
        let r = run("--url ws://h:1/ --scenario rooms").unwrap();
        assert_eq!((r.clients, r.rooms, r.rate), (1000, 10, 1000.0));
        let i = run("--url ws://h:1/ --scenario idle").unwrap();
        assert_eq!((i.clients, i.duration), (5000, 0.0));
        assert!(i.deadline > 30.0 && i.deadline <= 400.0, "{}", i.deadline);
        assert_eq!((i.fanout, i.sources), (false, 1));
        let scale = run("--url ws://127.0.0.1:1/ --scenario idle --clients 100000 --sources 4 --fanout").unwrap();
        assert_eq!((scale.fanout, scale.sources, scale.clients), (true, 4, 100_000));
        let part = run("--url ws://127.0.0.1:1/ --scenario idle --listen --drain 600 --delays /tmp/d").unwrap();
        assert_eq!(
            (part.listen, part.fanout, part.delays.as_deref()),
            (true, false, Some("/tmp/d"))
        );
        assert!(part.deadline > 600.0, "a listener outlives its wait: {}", part.deadline);
        assert!(scale.deadline > i.deadline, "the fan-out gets time of its own");
    }

    #[test]
    fn options_override_defaults_in_both_spellings() {
        let a = run(
            "--url=ws://127.0.0.1:3001/ --scenario rpc --in-flight 16 --clients=8 --duration 2.5 \
             --codec msgpack --pid 42 --label zocket --deadline 9",
        )
        .unwrap();
        assert_eq!((a.in_flight, a.clients, a.duration), (16, 8, 2.5));
        assert!(!a.pipelined);
        assert!(
            run("--url ws://h:1/ --scenario rpc --pipelined --in-flight 16")
                .unwrap()
                .pipelined
        );
        assert_eq!(
            (a.codec, a.pid, a.label.as_str(), a.deadline),
            (Codec::Msgpack, Some(42), "zocket", 9.0)
        );
    }

    #[test]
    fn mistakes_are_reported() {
        let cluster = run("--url ws://a:1/,ws://b:2/ --scenario broadcast --pid 5,6").unwrap();
        assert_eq!(cluster.urls, ["ws://a:1/", "ws://b:2/"]);
        assert_eq!((cluster.pid, cluster.pids), (Some(5), vec![5, 6]));
        assert!(
            run("--url ws://a/,http://b/ --scenario rpc")
                .unwrap_err()
                .contains("ws://")
        );
        assert!(run("--scenario rpc").unwrap_err().contains("--url"));
        assert!(run("--url ws://h/").unwrap_err().contains("--scenario"));
        assert!(run("--url http://h/ --scenario rpc").unwrap_err().contains("ws://"));
        assert!(
            run("--url ws://h/ --scenario fast")
                .unwrap_err()
                .contains("unknown scenario")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --clients 0")
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --clients")
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --duration -1")
                .unwrap_err()
                .contains(">= 0")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --bogus 1")
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(
            run("--url ws://h/ --scenario rooms --clients 5")
                .unwrap_err()
                .contains("--rooms")
        );
        assert!(
            run("--url ws://h/ --scenario broadcast --rate 0")
                .unwrap_err()
                .contains("--rate")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --pipelined=1")
                .unwrap_err()
                .contains("takes no value")
        );
        assert!(
            run("--url ws://h/ --scenario idle --fanout --listen")
                .unwrap_err()
                .contains("exclude")
        );
        assert!(
            run("--url ws://h/ --scenario idle --delays /tmp/d")
                .unwrap_err()
                .contains("need --fanout or --listen")
        );
        assert!(
            run("--url ws://h/ --scenario rpc --fanout")
                .unwrap_err()
                .contains("idle")
        );
        assert!(
            run("--url ws://h/ --scenario idle --sources 4")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(
            run("--url ws://127.0.0.1:1/ --scenario idle --sources 300")
                .unwrap_err()
                .contains("254")
        );
        assert_eq!(parse(["--help".to_owned()]), Ok(Command::Help));
    }
}
