//! Speech recognition on sherpa-onnx: streaming (OnlineRecognizer) and offline over VAD
//! segments (OfflineRecognizer).
//!
//! [`build`] picks the family from the model bundle's kind (`asr-online` / `asr-offline` in
//! models/manifest.toml). Every recognizer takes 16 kHz mono f32 audio as it arrives and
//! reports [`AsrEvent`]s; the pipeline drives it through [`Recognizer`] only.

mod config;
mod model;
mod offline;
mod online;
pub mod text;
pub mod transcript;

pub use config::{AsrConfig, EndpointMode, EndpointPreset, EndpointRules, Provider};
pub use model::ModelFiles;
pub use offline::{OfflineEngine, SegmentedRecognizer};
pub use online::StreamingRecognizer;

use crate::models::ModelStore;
use crate::vad::{VadConfig, VoiceDetector};

/// What a recognizer reports while audio streams in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsrEvent {
    /// The best guess so far for the current utterance (replaces the previous partial).
    Partial(String),
    /// The utterance ended (endpoint rule or VAD) with this final text; "" when the
    /// endpoint came without anything recognised (the user said nothing).
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
    #[error("invalid [asr] config: {0}")]
    Config(String),
    #[error("VAD for the recognizer: {0}")]
    Vad(#[from] crate::vad::VadError),
}

pub trait Recognizer: Send {
    /// Starts a new utterance, dropping any state of the previous one.
    fn begin(&mut self);
    /// Feeds 16 kHz mono samples in [-1, 1]; returns partials and, at an endpoint, the final.
    /// After a final the recognizer is ready for the next utterance without `begin`.
    fn feed(&mut self, samples: &[f32]) -> Result<Vec<AsrEvent>, AsrError>;
    /// No more audio for this utterance: decodes what is left and returns the final text.
    fn finish(&mut self) -> Result<String, AsrError>;
    /// Starts an utterance with audio buffered from shortly before the wake word ended
    /// (`asr.preroll_ms`), so a command said without a pause is not clipped. The wake word
    /// may then appear in the text: see [`crate::wake::WakeWordName::strip`].
    fn begin_with_preroll(&mut self, preroll: &[f32]) -> Result<Vec<AsrEvent>, AsrError> {
        self.begin();
        self.feed(preroll)
    }
    /// The final text of the segment under way if it ended at `end` (samples since
    /// `begin`), decoded now without ending it: the turn's decode started at a pause.
    /// `None` when the recognizer cannot (streaming models decode as they go).
    fn transcript_until(&mut self, _end: u64) -> Result<Option<String>, AsrError> {
        Ok(None)
    }
}

/// The recognizer the config asks for. Streaming models get the VAD only when
/// `asr.endpoint` is `vad` or `both`; offline models always run over VAD segments.
pub fn build(
    cfg: &AsrConfig,
    vad: &VadConfig,
    store: &ModelStore,
) -> Result<Box<dyn Recognizer>, AsrError> {
    let files = ModelFiles::resolve(&cfg.model_ref(), store)?;
    let needs_vad = !files.is_streaming() || cfg.endpoint != EndpointMode::Rules;
    let detector = if needs_vad {
        Some(silero(vad, store)?)
    } else {
        None
    };
    build_with_detector(cfg, &files, detector)
}

/// The recognizer of a capture stream whose VAD runs in the listener: it follows that VAD's
/// boundaries ([`crate::vad::VadShare`]) instead of running a second one.
pub fn build_following(
    cfg: &AsrConfig,
    store: &ModelStore,
    vad: crate::vad::FollowingVad,
) -> Result<Box<dyn Recognizer>, AsrError> {
    let files = ModelFiles::resolve(&cfg.model_ref(), store)?;
    let needs_vad = !files.is_streaming() || cfg.endpoint != EndpointMode::Rules;
    let detector = needs_vad.then(|| Box::new(vad) as Box<dyn VoiceDetector>);
    build_with_detector(cfg, &files, detector)
}

/// Like [`build`], with the voice detector supplied by the caller.
pub fn build_with_detector(
    cfg: &AsrConfig,
    files: &ModelFiles,
    detector: Option<Box<dyn VoiceDetector>>,
) -> Result<Box<dyn Recognizer>, AsrError> {
    if files.is_streaming() {
        return Ok(Box::new(StreamingRecognizer::new(cfg, files, detector)?));
    }
    let engine = OfflineEngine::new(cfg, files)?;
    let detector = detector.ok_or_else(|| {
        AsrError::Config(format!(
            "{} is an offline model: it needs the VAD ([vad] model) to find speech segments",
            cfg.model
        ))
    })?;
    Ok(Box::new(SegmentedRecognizer::new(engine, detector, cfg)))
}

fn silero(vad: &VadConfig, store: &ModelStore) -> Result<Box<dyn VoiceDetector>, AsrError> {
    Ok(Box::new(crate::vad::SileroVad::new(vad, store)?))
}
