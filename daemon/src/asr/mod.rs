//! Speech recognition on sherpa-onnx: streaming (OnlineRecognizer) and offline over VAD
//! segments (OfflineRecognizer).

mod config;

pub use config::AsrConfig;

/// What a recognizer reports while audio streams in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsrEvent {
    /// The best guess so far for the current utterance (replaces the previous partial).
    Partial(String),
    /// The utterance ended (endpoint rule or VAD) with this final text.
    Final(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error("cannot create the {kind} recognizer from {model}: {reason}")]
    Create {
        kind: &'static str,
        model: String,
        reason: String,
    },
}

pub trait Recognizer: Send {
    /// Starts a new utterance, dropping any state of the previous one.
    fn begin(&mut self);
    /// Feeds 16 kHz mono samples in [-1, 1]; returns partials and, at an endpoint, the final.
    fn feed(&mut self, samples: &[f32]) -> Result<Vec<AsrEvent>, AsrError>;
    /// No more audio for this utterance: decodes what is left and returns the final text.
    fn finish(&mut self) -> Result<String, AsrError>;
}
