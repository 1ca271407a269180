//! The standard `process_*` metrics (the names Prometheus' own clients use), read from
//! `/proc/self` at scrape time, and `tether_build_info`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

pub(crate) struct Process {
    resident: Gauge,
    virtual_memory: Gauge,
    cpu: Counter<f64, AtomicU64>,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge<f64, AtomicU64>,
}

impl Process {
    /// Registers `process_*` on `root` (no prefix) and `build_info` on `tether`.
    pub(crate) fn register(root: &mut Registry) -> Process {
        let process = Process {
            resident: Gauge::default(),
            virtual_memory: Gauge::default(),
            cpu: Counter::default(),
            open_fds: Gauge::default(),
            max_fds: Gauge::default(),
            start_time: Gauge::default(),
        };
        let build = Family::<Build, Gauge>::default();
        build.get_or_create(&Build { version: env!("CARGO_PKG_VERSION") }).set(1);
        root.register("tether_build_info", "The running build (its version as a label; always 1)", build);
        root.register("process_resident_memory_bytes", "Resident memory size in bytes", process.resident.clone());
        root.register("process_virtual_memory_bytes", "Virtual memory size in bytes", process.virtual_memory.clone());
        root.register("process_cpu_seconds", "User and system CPU time spent, in seconds", process.cpu.clone());
        root.register("process_open_fds", "Open file descriptors", process.open_fds.clone());
        root.register("process_max_fds", "The open file descriptor limit", process.max_fds.clone());
        root.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            process.start_time.clone(),
        );
        process
    }

    /// Reads `/proc/self`; a figure that cannot be read keeps its last value.
    pub(crate) fn sample(&self) {
        let (page, ticks) = (rustix::param::page_size() as i64, rustix::param::clock_ticks_per_second() as i64);
        if let Some((size, resident)) = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| statm(&s)) {
            self.virtual_memory.set(size as i64 * page);
            self.resident.set(resident as i64 * page);
        }
        if let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| stat(&s))
            && ticks > 0
        {
            let cpu = (stat.utime + stat.stime) as f64 / ticks as f64;
            self.cpu.inc_by((cpu - self.cpu.get()).max(0.0));
            if let Some(boot) = std::fs::read_to_string("/proc/stat").ok().and_then(|s| boot_time(&s)) {
                self.start_time.set(boot as f64 + stat.start as f64 / ticks as f64);
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
        // `None` is RLIM_INFINITY.
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
        self.max_fds.set(limit.min(i64::MAX as u64) as i64);
    }
}

fn statm(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

struct Stat {
    utime: u64,
    stime: u64,
    start: u64,
}

/// Fields 14, 15 and 22 of `/proc/self/stat`; the command name (field 2) may hold spaces.
fn stat(text: &str) -> Option<Stat> {
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // Fields from 3 on: utime is field 14 (index 11), stime 15, starttime 22 (index 19).
    Some(Stat {
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn boot_time(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed_including_odd_command_names() {
        assert_eq!(statm("5000 1200 300 1 0 900 0\n"), Some((5000, 1200)));
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0 12345 1000 50";
        let parsed = stat(line).unwrap();
        assert_eq!((parsed.utime, parsed.stime, parsed.start), (7, 3, 12345));
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
    }
}
