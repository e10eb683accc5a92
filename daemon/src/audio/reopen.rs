//! The reopen policy both audio threads share: capped exponential backoff, and one log line
//! when a device goes away and one when it is back, however many attempts lie between.

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::pcm::Opened;

/// First wait before reopening a device; doubles up to the configured maximum.
const FIRST_DELAY: Duration = Duration::from_millis(50);

/// What an audio thread publishes about the device it holds, for its stats.
#[derive(Default)]
pub(super) struct DeviceInfo {
    /// Successful opens that ended an outage.
    pub reopens: AtomicU64,
    pub rate: AtomicU32,
    pub channels: AtomicU32,
}

pub(super) struct Reopen<'a> {
    side: &'static str,
    device: &'a str,
    max: Duration,
    delay: Duration,
    failing: bool,
}

impl<'a> Reopen<'a> {
    pub fn new(side: &'static str, device: &'a str, max: Duration) -> Self {
        Reopen {
            side,
            device,
            max,
            delay: FIRST_DELAY,
            failing: false,
        }
    }

    /// Opening failed: logs the first failure of an outage and returns how long to wait
    /// before the next attempt.
    pub fn open_failed(&mut self, err: &dyn Display) -> Duration {
        if !self.failing {
            log::warn!(
                "{}: {err}; retrying (backoff up to {:?})",
                self.side,
                self.max
            );
            self.failing = true;
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(self.max);
        wait
    }

    /// The stream of an open device died; returns how long to wait before reopening.
    pub fn lost(&mut self, err: &dyn Display) -> Duration {
        log::warn!("{}: {err}", self.side);
        self.failing = true;
        self.delay
    }

    /// The device is open: publishes its format, counts a reopen when this ends an outage,
    /// and logs both.
    pub fn opened(&mut self, dev: &Opened, info: &DeviceInfo) {
        info.rate.store(dev.rate, Ordering::Relaxed);
        info.channels.store(dev.channels, Ordering::Relaxed);
        if self.end_outage() {
            info.reopens.fetch_add(1, Ordering::Relaxed);
        }
        log::debug!(
            "{}: `{}` open at {} Hz, {} ch, period {} frames, buffer {}",
            self.side,
            self.device,
            dev.rate,
            dev.channels,
            dev.period_frames,
            dev.buffer_frames
        );
    }

    /// True (and logged) when an open ends an outage.
    fn end_outage(&mut self) -> bool {
        self.delay = FIRST_DELAY;
        if !std::mem::take(&mut self.failing) {
            return false;
        }
        log::info!("{}: `{}` is back", self.side, self.device);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_open() {
        let mut r = Reopen::new("capture", "hw:9", Duration::from_millis(300));
        let waits: Vec<u128> = (0..5).map(|_| r.open_failed(&"gone").as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 300, 300]);
        assert!(r.end_outage());
        assert!(
            !r.end_outage(),
            "only the first open after an outage counts"
        );
        assert_eq!(r.open_failed(&"gone"), FIRST_DELAY);
    }
}
