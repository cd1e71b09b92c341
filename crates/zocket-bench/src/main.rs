//! `zocket-bench`: the load generator for the bench app of `shared/bench-app.md`. It speaks Zocket v1
//! frames (JSON, or MessagePack over subprotocol `zocket.v1.msgpack`) to any server URL, runs one
//! scenario (`rpc`, `broadcast`, `rooms`, `idle`) and prints one JSON line of results on stdout.
//! Server CPU and memory come from `/proc/PID` when `--pid` is given. Run with `--help` for options.

mod args;
mod clock;
mod conn;
mod fanout;
mod frame;
mod idle;
mod latency;
mod procfs;
mod report;
mod rpc;

use std::process::ExitCode;
use std::time::Duration;

use args::{Args, Command, Scenario};
use conn::Target;
use report::Probe;

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("zocket-bench: {e}\nTry --help.");
            return ExitCode::from(2);
        }
    };
    clock::epoch();
    raise_fd_limit(args.clients);
    watchdog(args.deadline);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zocket-bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(&args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zocket-bench: {} against {}: {e}", args.scenario.name(), args.url);
            ExitCode::from(1)
        }
    }
}

async fn run(args: &Args) -> Result<serde_json::Value, String> {
    let probe = Probe::new(&args.pids, procfs::ticks_per_second());
    probe.check()?;
    let mut targets = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        let target = Target::resolve(url, args.codec, Duration::from_secs_f64(args.connect_timeout)).await?;
        targets.push(match args.sources {
            1 => target,
            n => target.with_sources(conn::loopback_sources(n)),
        });
    }
    let target = &targets[0];
    let (outcome, usage) = match args.scenario {
        Scenario::Rpc => rpc::run(args, target, &probe).await?,
        Scenario::Broadcast => fanout::run(args, &targets, &probe, None).await?,
        Scenario::Rooms => fanout::run(args, &targets, &probe, Some(args.rooms)).await?,
        Scenario::Idle => idle::run(args, target, &probe).await?,
    };
    Ok(report::to_json(args, &outcome, &usage))
}

/// Raises the soft open-files limit to the hard one; warns if that is still short of `clients`.
fn raise_fd_limit(clients: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < clients as u64 + 64 => {
            eprintln!("zocket-bench: warning: open-files limit {limit} is below {clients} connections")
        }
        Ok(_) => {}
        Err(e) => eprintln!("zocket-bench: warning: cannot raise the open-files limit: {e}"),
    }
}

/// Ends the process with status 3 if the run is not done after `secs`.
fn watchdog(secs: f64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(secs));
        eprintln!("zocket-bench: deadline of {secs:.0} s hit, giving up");
        std::process::exit(3);
    });
}
