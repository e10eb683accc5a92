//! Audio I/O: WAV files, resampling, and (to come) ALSA capture/playback through rings.

mod config;
pub mod resample;
pub mod wav;

pub use config::AudioConfig;

/// hearken's internal capture format: 16 kHz mono.
pub const SAMPLE_RATE: u32 = 16_000;
