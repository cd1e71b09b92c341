//! CPU time and resident memory of a process, read from `/proc/PID/stat` and `/proc/PID/status`.

use std::process::Command;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// User plus system CPU time so far, in seconds.
    pub(crate) cpu_s: f64,
    /// Resident set size, in KiB.
    pub(crate) rss_kib: u64,
}

/// A process to read: a pid, or this process.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    dir: String,
    ticks_per_s: f64,
}

impl Proc {
    /// The process `pid`, or this process when `None`.
    pub(crate) fn new(pid: Option<u32>, ticks_per_s: f64) -> Self {
        let dir = match pid {
            Some(pid) => format!("/proc/{pid}"),
            None => "/proc/self".to_owned(),
        };
        Self { dir, ticks_per_s }
    }

    /// Reads the process now; `None` if it is gone or the files do not parse.
    pub(crate) fn sample(&self) -> Option<Sample> {
        let stat = std::fs::read_to_string(format!("{}/stat", self.dir)).ok()?;
        let status = std::fs::read_to_string(format!("{}/status", self.dir)).ok()?;
        Some(Sample {
            cpu_s: cpu_ticks(&stat)? as f64 / self.ticks_per_s,
            rss_kib: vm_rss_kib(&status)?,
        })
    }

    /// The process's peak resident set size so far, in KiB: the kernel updates `VmHWM` lazily,
    /// so it can trail the current `VmRSS`; the larger of the two.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("{}/status", self.dir)).ok()?;
        Some(vm_hwm_kib(&status)?.max(vm_rss_kib(&status)?))
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The command name
/// (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3 (state): utime is field 14, the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS:` line of `/proc/PID/status`, in KiB.
pub(crate) fn vm_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// The `VmHWM:` line (peak resident set size) of `/proc/PID/status`, in KiB.
pub(crate) fn vm_hwm_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmHWM:")
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(key))?;
    line.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// CPU seconds all processes of the machine have spent busy since boot (`/proc/stat`), as
/// [`busy_ticks`] counts them.
pub(crate) fn machine_busy_s(ticks_per_s: f64) -> Option<f64> {
    Some(busy_ticks(&std::fs::read_to_string("/proc/stat").ok()?)? as f64 / ticks_per_s)
}

/// Busy ticks of the `cpu` line of `/proc/stat`: user, nice, system and steal (guest time is already
/// inside user). Interrupt time is left out: loopback packets are processed there, on behalf of the
/// server and the generator alike, and it would read as other work.
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (f.len() >= 4).then(|| at(0) + at(1) + at(2) + at(7))
}

/// CPU seconds all kernel threads (children of `kthreadd`, pid 2: kworkers, ksoftirqd, ...) have
/// used since boot. Loopback traffic makes them work on behalf of the server and the generator.
pub(crate) fn kernel_threads_s(ticks_per_s: f64) -> Option<f64> {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        // Processes come and go while we read; a vanished one is skipped.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if pid == "2" || parent(&stat) == Some(2) {
            ticks += cpu_ticks(&stat).unwrap_or(0);
        }
    }
    Some(ticks as f64 / ticks_per_s)
}

/// The parent pid (field 4) of a `/proc/PID/stat` line.
fn parent(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The 1-minute load average (first field of `/proc/loadavg`).
pub(crate) fn loadavg_1m() -> Option<f64> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_loadavg(s: &str) -> Option<f64> {
    s.split_ascii_whitespace().next()?.parse().ok()
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 if that cannot be asked.
pub(crate) fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 3 0 \
                        12345 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn cpu_ticks_sum_utime_and_stime_after_a_tricky_command_name() {
        assert_eq!(cpu_ticks(STAT), Some(325));
    }

    #[test]
    fn the_parent_is_field_four() {
        assert_eq!(parent(STAT), Some(1));
        assert_eq!(parent("7 (kworker/0:1-events) I 2 0 0"), Some(2));
        assert_eq!(parent("7 (x)"), None);
    }

    #[test]
    fn kernel_threads_are_found() {
        // kthreadd itself is always there, if only with little CPU time.
        assert!(kernel_threads_s(100.0).unwrap() >= 0.0);
    }

    #[test]
    fn cpu_ticks_refuse_truncated_lines() {
        assert_eq!(cpu_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tbench\nVmPeak:\t  99999 kB\nVmRSS:\t   10468 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(10468));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        let status = "VmPeak:\t  99999 kB\nVmHWM:\t   12000 kB\nVmRSS:\t   10468 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(12000));
    }

    #[test]
    fn busy_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 2 30 5000 40 6 7 8 50 0\ncpu0 50 1 15 2500 20 3 3 4 25 0\nintr 1 2 3\n";
        assert_eq!(busy_ticks(stat), Some(100 + 2 + 30 + 8));
        assert_eq!(busy_ticks("cpu0 1 2 3 4\n"), None);
        assert!(machine_busy_s(100.0).unwrap() > 0.0);
    }

    #[test]
    fn load_average_is_the_first_field() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 2/367 12345\n"), Some(0.52));
        assert_eq!(parse_loadavg(""), None);
        assert!(loadavg_1m().is_some());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = Proc::new(None, ticks_per_second()).sample().expect("/proc/self");
        assert!(me.rss_kib > 0);
        assert!(me.cpu_s >= 0.0);
        let pid = Proc::new(Some(std::process::id()), 100.0).sample().expect("/proc/PID");
        assert!(pid.rss_kib > 0);
    }
}
