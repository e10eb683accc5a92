//! Wake-word detection (openWakeWord models via `ort`).
//!
//! The pipeline only sees [`WakeEngine`]; openWakeWord is one implementation, and a
//! sherpa-onnx keyword spotter or another model family can be another.

mod config;
mod features;
mod name;
mod openwakeword;

pub use config::WakeConfig;
pub use features::startup_noise;
pub use name::WakeWordName;
pub use openwakeword::OpenWakeWord;

/// Samples per frame the pipeline feeds: 80 ms at 16 kHz.
pub const FRAME_SAMPLES: usize = 1280;

/// One wake word heard in the last frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The word's [`WakeWordName`] (`hey_jarvis`).
    pub word: String,
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error(transparent)]
    Vad(#[from] crate::vad::VadError),
    #[error("cannot load wake-word model {path}: {message}")]
    Load {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("no wake words configured: set [wake] words, e.g. words = [\"alexa\"]")]
    NoWords,
    #[error("wake-word frames are {FRAME_SAMPLES} samples (80 ms at 16 kHz), got {0}")]
    FrameSize(usize),
    #[error("wake-word inference with {path} failed: {message}")]
    Inference {
        path: std::path::PathBuf,
        message: String,
    },
}

pub trait WakeEngine: Send {
    /// Feeds one frame of [`FRAME_SAMPLES`] 16 kHz mono samples; returns the words detected
    /// in it (after thresholds and refractory periods).
    fn process(&mut self, frame: &[i16]) -> Result<Vec<Detection>, WakeError>;
    /// Each word's raw score for the last frame, before thresholds (for tuning and tests).
    fn scores(&self) -> &[(String, f32)] {
        &[]
    }
    /// Forgets all audio history (after a turn, or when resuming from mute).
    fn reset(&mut self);
    /// Takes new thresholds and refractory period (`systemctl reload`) for the words it
    /// already listens for; a change of words or models needs a new engine. An engine with
    /// nothing to tune ignores it.
    fn retune(&mut self, _config: &WakeConfig) {}
}
