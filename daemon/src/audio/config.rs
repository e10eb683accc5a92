use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioConfig {
    /// ALSA PCM to capture from: `default`, `plughw:1,0`, a dsnoop device, ...
    pub capture_device: String,
    /// ALSA PCM to play to: `default`, `plughw:1,0`, a dmix device, ...
    pub playback_device: String,
    /// Capture rate in Hz; the engines need 16000 (other rates are resampled).
    pub sample_rate: u32,
    /// Capture channels; only the first is used.
    pub channels: u32,
    /// ALSA period length in milliseconds.
    pub period_ms: u32,
    /// ALSA buffer length in periods.
    pub periods: u32,
    /// Save every captured turn as WAV here ("" = off).
    pub debug_recordings_dir: PathBuf,
    /// Keep at most this many debug recordings (oldest deleted first).
    pub debug_recordings_max: u32,
    /// ... and at most this many MiB of them.
    pub debug_recordings_max_mb: u32,
    /// Playback rate in Hz; 0 = the rate of what is played (TTS voice), else resampled to it.
    pub playback_rate: u32,
    /// Capture/playback ring length in milliseconds of audio.
    pub ring_ms: u32,
    /// Longest wait between attempts to reopen a device that failed or vanished.
    pub reopen_max_ms: u32,
    /// How capture is released: "device" (as ALSA delivers it), "realtime" (paced to the
    /// wall clock, playback too, for file-backed devices in latency measurements) or
    /// "unpaced" (as fast as the reader takes it, never dropping; for tests and simulation).
    pub capture_pacing: Pacing,
}

/// How the capture thread releases audio into its ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// ALSA paces the reads (a real device); a full ring drops samples (counted).
    #[default]
    Device,
    /// Reads are released at real-time speed, for devices that do not pace themselves
    /// (the file plugin over `null`); a full ring drops samples (counted).
    Realtime,
    /// As fast as the device gives and the reader takes: a full ring waits, nothing is lost.
    Unpaced,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            capture_device: "default".into(),
            playback_device: "default".into(),
            sample_rate: 16_000,
            channels: 1,
            period_ms: 20,
            periods: 4,
            debug_recordings_dir: PathBuf::new(),
            debug_recordings_max: 50,
            debug_recordings_max_mb: 200,
            playback_rate: 0,
            ring_ms: 2000,
            reopen_max_ms: 5000,
            capture_pacing: Pacing::Device,
        }
    }
}

impl AudioConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err((
                "audio.sample_rate",
                format!("{} Hz is out of range 8000..192000", self.sample_rate),
            ));
        }
        if self.period_ms == 0 || self.period_ms > 500 {
            return Err((
                "audio.period_ms",
                format!("{} ms is out of range 1..500", self.period_ms),
            ));
        }
        if self.periods < 2 {
            return Err((
                "audio.periods",
                "need at least 2 periods in the buffer".into(),
            ));
        }
        if self.playback_rate != 0 && !(8_000..=192_000).contains(&self.playback_rate) {
            return Err((
                "audio.playback_rate",
                format!(
                    "{} Hz is out of range 8000..192000 (or 0)",
                    self.playback_rate
                ),
            ));
        }
        if self.ring_ms < 2 * self.period_ms {
            return Err((
                "audio.ring_ms",
                format!("{} ms must hold at least two periods", self.ring_ms),
            ));
        }
        if self.reopen_max_ms == 0 {
            return Err(("audio.reopen_max_ms", "must be at least 1".into()));
        }
        Ok(())
    }
}
