//! What a process holds, from `/proc/PID`: resident memory and open file descriptors.

/// One sample.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// `VmRSS`, in KiB.
    pub(crate) rss_kib: u64,
    /// Entries of `/proc/PID/fd`.
    pub(crate) fds: u64,
}

/// A sample of `pid`, or `None` when it is gone.
pub(crate) fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample { rss_kib, fds })
}

/// Raise this process's soft limit of open files to its hard limit (the flood needs thousands).
pub(crate) fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}
