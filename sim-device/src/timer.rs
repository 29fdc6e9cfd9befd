//! The device's timers as one table keyed by [`Timer`] (quinn's `TimerTable`).
//!
//! `poll_timeout` is the earliest armed entry; expired entries fire earliest first, and entries due at the
//! same instant fire in enum order. That order is deliberate: a blocking scan's 120 ms poll runs before a
//! scan completion due at the same instant, as in ESP-IDF where the handler's `vTaskDelay` wakes first.

use std::time::Instant;

/// Every timer the core uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The blocking-scan handler's 120 ms poll.
    ScanPoll,
    /// The radio finishes a scan.
    ScanDone,
    /// `wifi_prov_connect_tm`: the manager's delay between ApplyConfig and `esp_wifi_connect()`.
    ApplyDelay,
    /// A connect attempt resolves (associated or disconnected).
    ConnectResolve,
    /// DHCP hands out the address.
    GotIp,
    /// An AP with a `VanishAfter` fault disappears.
    ApVanish,
    /// `cleanup_delay_tm`: teardown after a Connected GetStatus.
    Cleanup,
    /// The auto-stop timer after the IP was obtained.
    AutoStop,
}

const ALL: [Timer; 8] = [
    Timer::ScanPoll,
    Timer::ScanDone,
    Timer::ApplyDelay,
    Timer::ConnectResolve,
    Timer::GotIp,
    Timer::ApVanish,
    Timer::Cleanup,
    Timer::AutoStop,
];

/// Deadlines of all timers.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    at: [Option<Instant>; 8],
}

impl Timers {
    pub(crate) fn set(&mut self, timer: Timer, when: Instant) {
        self.at[timer as usize] = Some(when);
    }

    pub(crate) fn cancel(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarm and return the earliest timer due at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let (timer, when) = ALL
            .iter()
            .filter_map(|t| self.at[*t as usize].map(|w| (*t, w)))
            .filter(|(_, w)| *w <= now)
            .min_by_key(|(t, w)| (*w, *t as usize))?;
        self.cancel(timer);
        Some((timer, when))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_earliest_first_then_enum_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(Timer::ScanDone, t0 + Duration::from_millis(10));
        t.set(Timer::ScanPoll, t0 + Duration::from_millis(10));
        t.set(Timer::ApplyDelay, t0 + Duration::from_millis(5));
        assert_eq!(t.next(), Some(t0 + Duration::from_millis(5)));
        let now = t0 + Duration::from_millis(10);
        let order: Vec<_> = std::iter::from_fn(|| t.pop_expired(now).map(|x| x.0)).collect();
        assert_eq!(
            order,
            vec![Timer::ApplyDelay, Timer::ScanPoll, Timer::ScanDone]
        );
        assert_eq!(t.next(), None);
    }
}
