use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioConfig {
    /// ALSA PCM to capture from: `default`, `plughw:1,0`, a dsnoop device, ...
    pub capture_device: String,
    /// ALSA PCM to play to: `default`, `plughw:1,0`, a dmix device, ...
    pub playback_device: String,
    /// Capture rate in Hz; the engines need 16000 (other rates are resampled).
    #[serde(deserialize_with = "checked::u32_in::<_, 8_000, 192_000>")]
    pub sample_rate: u32,
    /// Capture channels; only the first is used.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 32>")]
    pub channels: u32,
    /// ALSA period length in milliseconds.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 500>")]
    pub period_ms: u32,
    /// ALSA buffer length in periods.
    #[serde(deserialize_with = "checked::u32_in::<_, 2, 64>")]
    pub periods: u32,
    /// Playback rate in Hz; 0 = the rate of what is played (TTS voice), else resampled to it.
    #[serde(deserialize_with = "checked::rate_or_zero")]
    pub playback_rate: u32,
    /// Capture/playback ring length in milliseconds of audio (at least two periods).
    #[serde(deserialize_with = "checked::u32_in::<_, 2, 60_000>")]
    pub ring_ms: u32,
    /// Longest wait between attempts to reopen a device that failed or vanished.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 600_000>")]
    pub reopen_max_ms: u32,
    /// How capture is released: "device" (as ALSA delivers it), "realtime" (paced to the
    /// wall clock, playback too, for file-backed devices in latency measurements) or
    /// "unpaced" (as fast as the reader takes it, never dropping; for tests and simulation).
    pub capture_pacing: Pacing,
    /// SCHED_FIFO priority (1..99) the capture and playback threads ask for; 0 = off.
    /// Refused (no LimitRTPRIO in the unit), they run at normal priority.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 99>")]
    pub rt_priority: u32,
    /// Where each turn's audio (what the recognizer got) is saved as a WAV, for finding out
    /// why something was misheard; empty = off.
    pub debug_recordings_dir: PathBuf,
    /// The most recordings kept; the oldest go first.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 100_000>")]
    pub debug_recordings_max: u32,
    /// The most space they take, in MB.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 1_000_000>")]
    pub debug_recordings_max_mb: u32,
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
            playback_rate: 0,
            ring_ms: 2000,
            reopen_max_ms: 5000,
            capture_pacing: Pacing::Device,
            rt_priority: 0,
            debug_recordings_dir: PathBuf::new(),
            debug_recordings_max: 50,
            debug_recordings_max_mb: 200,
        }
    }
}

impl AudioConfig {
    /// The recorder `debug_recordings_*` ask for, if any.
    pub fn debug_recorder(&self) -> Option<super::debug_rec::DebugRecorder> {
        (!self.debug_recordings_dir.as_os_str().is_empty()).then(|| {
            super::debug_rec::DebugRecorder::new(
                &self.debug_recordings_dir,
                self.debug_recordings_max as usize,
                self.debug_recordings_max_mb as u64 * 1_000_000,
            )
        })
    }

    /// The checks across keys; each key's own range is checked as it is read.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.ring_ms < 2 * self.period_ms {
            return Err((
                "audio.ring_ms",
                format!(
                    "{} ms is too short: it must hold two periods (2 × audio.period_ms = {} ms)",
                    self.ring_ms,
                    2 * self.period_ms
                ),
            ));
        }
        Ok(())
    }
}
