//! The figures of a load run, as Markdown, and its verdict.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::attack::Counters;
use crate::procfs::Sample;
use crate::session::Timings;
use crate::Args;

/// Everything a run measured.
pub(crate) struct Report<'a> {
    pub(crate) args: &'a Args,
    /// The warm-up round's sessions: their errors count, and one of them may take the credentials.
    pub(crate) warmup: Vec<anyhow::Result<Timings>>,
    pub(crate) results: Vec<anyhow::Result<Timings>>,
    pub(crate) wall: Duration,
    pub(crate) before: Sample,
    pub(crate) peak: Sample,
    pub(crate) after: Sample,
    pub(crate) counters: &'a Counters,
}

/// The `p`-th percentile (0–100) of sorted `v`, nearest rank.
fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

impl Report<'_> {
    fn errors(&self) -> Vec<String> {
        self.warmup
            .iter()
            .chain(&self.results)
            .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
            .collect()
    }

    fn applied(&self) -> usize {
        self.warmup
            .iter()
            .chain(&self.results)
            .filter(|r| r.as_ref().is_ok_and(|t| t.applied))
            .count()
    }

    fn rss_growth(&self) -> f64 {
        (self.after.rss_kib as f64 / self.before.rss_kib.max(1) as f64 - 1.0) * 100.0
    }

    /// 0 errors, exactly one ApplyConfig taken, RSS back within the allowed growth.
    pub(crate) fn passed(&self) -> bool {
        self.errors().is_empty() && self.applied() == 1 && self.rss_growth() <= self.args.rss_growth
    }

    /// The figures as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let ok: Vec<&Timings> = self
            .results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        let mut sessions: Vec<Duration> = ok.iter().map(|t| t.session).collect();
        sessions.sort();
        let mut requests: Vec<Duration> =
            ok.iter().flat_map(|t| t.requests.iter().copied()).collect();
        requests.sort();
        let errors = self.errors();
        let c = self.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let a = self.args;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "{} clients at once, each a whole Security 1 provisioning session over HTTP (proto-ver, \
             Command0, Command1, SetConfig, ApplyConfig, GetStatus: 6 requests), against one `sim-device \
             --limits load --http-max-sockets {} --http-max-sockets-per-peer {} --http-recv-timeout {}`, \
             while {} slow clients (each its own host) trickled request heads (a byte every {} ms) and a \
             flood from one host kept {} idle connections open (each {} ms, then replaced). Clients \
             come four to a host (127.1.x.y). {} warm-up rounds of {} sessions under the same attack ran before the \"before\" sample; \
             \"before\" and \"after\" are the lowest samples over {} s at rest, with \
             `MIMALLOC_PURGE_DELAY=0` so RSS counts live memory rather than the allocator's cache.\n",
            a.clients, a.max_sockets, a.max_sockets_per_peer, a.recv_timeout, a.slow, a.slow_gap_ms, a.flood, a.flood_hold_ms, a.warmup_rounds, a.warmup, a.settle
        );
        let _ = writeln!(md, "| figure | value |\n|---|---|");
        let row = |md: &mut String, k: &str, v: String| {
            let _ = writeln!(md, "| {k} | {v} |");
        };
        row(
            &mut md,
            "sessions completed",
            format!("{} of {}", ok.len(), a.clients),
        );
        row(
            &mut md,
            "errors (well-behaved clients, warm-up round included)",
            errors.len().to_string(),
        );
        row(
            &mut md,
            "ApplyConfig taken (must be exactly 1; the rest answer InternalError)",
            self.applied().to_string(),
        );
        row(
            &mut md,
            "wall time",
            format!("{:.2} s", self.wall.as_secs_f64()),
        );
        row(
            &mut md,
            "throughput",
            format!(
                "{:.0} sessions/s, {:.0} requests/s",
                ok.len() as f64 / self.wall.as_secs_f64(),
                requests.len() as f64 / self.wall.as_secs_f64()
            ),
        );
        row(
            &mut md,
            "session latency p50 / p99 / max",
            format!(
                "{} / {} / {}",
                ms(percentile(&sessions, 50.0)),
                ms(percentile(&sessions, 99.0)),
                ms(percentile(&sessions, 100.0))
            ),
        );
        row(
            &mut md,
            "request latency p50 / p99",
            format!(
                "{} / {}",
                ms(percentile(&requests, 50.0)),
                ms(percentile(&requests, 99.0))
            ),
        );
        row(
            &mut md,
            "slow connections / bytes trickled / cut by the server",
            format!(
                "{} / {} / {}",
                n(&c.slow_connections),
                n(&c.slow_bytes),
                n(&c.slow_cut)
            ),
        );
        row(
            &mut md,
            "flood connections / purged by the server / failed",
            format!(
                "{} / {} / {}",
                n(&c.flood_connections),
                n(&c.flood_purged),
                n(&c.flood_failed)
            ),
        );
        row(
            &mut md,
            "sim-device open fds before / peak / after",
            format!(
                "{} / {} / {}",
                self.before.fds, self.peak.fds, self.after.fds
            ),
        );
        row(
            &mut md,
            "sim-device RSS before / peak / after",
            format!(
                "{} KiB / {} KiB / {} KiB ({:+.1} % after vs before; bar {} %)",
                self.before.rss_kib,
                self.peak.rss_kib,
                self.after.rss_kib,
                self.rss_growth(),
                a.rss_growth
            ),
        );
        let _ = writeln!(
            md,
            "\nVerdict: {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        for e in errors.iter().take(10) {
            let _ = writeln!(md, "- error: {e}");
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
