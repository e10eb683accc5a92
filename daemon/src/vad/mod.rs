//! Voice activity detection (Silero VAD via `ort`).

mod config;

pub use config::VadConfig;

/// A change of state, at a sample position counted from the last reset (16 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    SpeechStart { sample: u64 },
    SpeechEnd { sample: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error("VAD inference failed: {0}")]
    Inference(String),
}

pub trait VoiceDetector: Send {
    /// Feeds any number of 16 kHz mono samples; returns the speech starts and ends they
    /// complete (min speech / min silence / padding applied).
    fn process(&mut self, samples: &[i16]) -> Result<Vec<VadEvent>, VadError>;
    /// Whether the detector currently considers the input speech.
    fn in_speech(&self) -> bool;
    /// Forgets state and restarts sample counting at 0.
    fn reset(&mut self);
}
