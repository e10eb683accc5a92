//! Text to speech: Piper voices via `ort`, phonemized with espeak-ng.

mod config;
mod espeak;
mod piper;

pub use config::TtsConfig;
pub use espeak::{phonemize, EspeakError};
pub use piper::PiperVoice;

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error(transparent)]
    Runtime(#[from] crate::native::NativeError),
    /// The voice's files (.onnx or .onnx.json) are missing, unreadable or not a Piper voice.
    #[error("Piper voice {path}: {message}")]
    Voice {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("speech synthesis with {path} failed: {message}")]
    Synthesis {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Phonemes(#[from] EspeakError),
}

pub trait Synthesizer: Send {
    /// Rate of the PCM this voice produces.
    fn sample_rate(&self) -> u32;
    /// Speaks one chunk of text (a sentence or clause), handing mono PCM to `sink` piece
    /// by piece as it is produced. `sink` returns `false` to cancel (barge-in); the call then
    /// returns `Ok` without synthesizing the rest.
    fn synthesize(
        &mut self,
        text: &str,
        sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), TtsError>;
    /// The peak level of what it speaks from now on (`tts.volume`, 0..1; reload). A voice
    /// with no level of its own ignores it.
    fn set_volume(&mut self, _volume: f32) {}
}
