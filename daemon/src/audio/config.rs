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
        Ok(())
    }
}
