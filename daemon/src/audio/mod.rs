//! Audio I/O: ALSA capture and playback threads around lock-free rings, WAV files,
//! resampling, file-backed devices and debug recordings.
//!
//! - [`Capture`]: a thread reading an ALSA PCM and pushing 16 kHz mono i16 into an rtrb ring.
//! - [`Playback`]: a thread taking mono i16 from a ring and writing it to an ALSA PCM.
//! - [`filedev`]: alsa-lib `file` plugin devices for tests and simulation.
//! - [`devices`]: the device list behind `hearken devices`.

mod capture;
mod config;
pub mod debug_rec;
pub mod devices;
mod error;
pub mod filedev;
mod pcm;
mod playback;
pub mod realtime;
mod reopen;
pub mod resample;
pub mod wav;

pub use capture::{
    read_blocking, Capture, CaptureHandle, CaptureSettings, CaptureState, CaptureStats,
    CaptureWatch,
};
pub use config::{AudioConfig, Pacing};
pub use error::{Action, AudioError};
pub use playback::{Playback, PlaybackControl, PlaybackSettings, PlaybackState, PlaybackStats};

/// hearken's internal capture format: 16 kHz mono.
pub const SAMPLE_RATE: u32 = 16_000;
