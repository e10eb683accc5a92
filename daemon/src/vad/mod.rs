//! Voice activity detection (Silero VAD via `ort`).
//!
//! The pipeline only sees [`VoiceDetector`]; [`SileroVad`] is the implementation. The
//! segmentation follows silero-vad's `get_speech_timestamps`, made causal: a segment is
//! announced once it is certain to outlast `min_speech_ms`, and ends after `min_silence_ms`.

mod config;
mod onnx;
mod segmenter;
mod share;
mod silero;

pub use config::VadConfig;
pub use onnx::{check_io, first_output, output, resolve_model, session, session_with_threads};
pub use segmenter::Segmenter;
pub use share::{FollowingVad, VadShare};
pub use silero::{SileroModel, SileroVad, CONTEXT_SAMPLES, WINDOW_SAMPLES};

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
    #[error(transparent)]
    Runtime(#[from] crate::native::NativeError),
    #[error("cannot load VAD model {path}: {message}")]
    Load {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("VAD inference with {path} failed: {message}")]
    Inference {
        path: std::path::PathBuf,
        message: String,
    },
}

/// A silence inside a speech segment, in samples since the last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// Where it began.
    pub since: u64,
    /// The `SpeechEnd` sample the segment gets if the silence lasts `min_silence_ms`.
    pub segment_end: u64,
}

pub trait VoiceDetector: Send {
    /// Feeds any number of 16 kHz mono samples; returns the speech starts and ends they
    /// complete (min speech / min silence / padding applied).
    fn process(&mut self, samples: &[i16]) -> Result<Vec<VadEvent>, VadError>;
    /// Whether the detector currently considers the input speech.
    fn in_speech(&self) -> bool;
    /// Whether the input is voiced right now: the last window was speech, with no silence
    /// under way. Unlike [`in_speech`](Self::in_speech) it drops at the first quiet window
    /// (a segment only ends after `min_silence_ms`) and rises before `min_speech_ms`.
    fn voiced(&self) -> bool {
        self.in_speech()
    }
    /// Inside a segment, the silence under way; `None` while voiced or outside speech.
    fn silence(&self) -> Option<Silence> {
        None
    }
    /// End of input: closes an open segment at the last sample fed (as
    /// `get_speech_timestamps` does at the end of a file). The live pipeline never calls it.
    fn flush(&mut self) -> Result<Vec<VadEvent>, VadError> {
        Ok(Vec::new())
    }
    /// Forgets state and restarts sample counting at 0.
    fn reset(&mut self);
}

/// Speech segments of a whole recording, in samples `[start, end)`.
pub fn segments(vad: &mut dyn VoiceDetector, samples: &[i16]) -> Result<Vec<(u64, u64)>, VadError> {
    vad.reset();
    let mut events = vad.process(samples)?;
    events.extend(vad.flush()?);
    let mut out = Vec::new();
    let mut start = None;
    for event in events {
        match event {
            VadEvent::SpeechStart { sample } => start = Some(sample),
            VadEvent::SpeechEnd { sample } => {
                if let Some(s) = start.take() {
                    out.push((s, sample));
                }
            }
        }
    }
    Ok(out)
}
