//! Silero VAD v5/v6 ONNX: 512-sample windows at 16 kHz, each preceded by the last 64 samples
//! of the previous one, with the model's recurrent state carried between calls.

use std::path::PathBuf;

use ort::session::Session;
use ort::value::TensorRef;

use super::{Segmenter, VadConfig, VadError, VadEvent, VoiceDetector};
use crate::models::ModelStore;

pub const WINDOW_SAMPLES: usize = 512;
pub const CONTEXT_SAMPLES: usize = 64;
const STATE_LEN: usize = 2 * 128;
const SAMPLE_RATE: i64 = 16000;

/// The bare model: one speech probability per 512-sample window.
pub struct SileroModel {
    session: Session,
    path: PathBuf,
    /// Context followed by the window, as the model takes it.
    input: Vec<f32>,
    state: Vec<f32>,
}

impl SileroModel {
    pub fn new(cfg: &VadConfig, store: &ModelStore) -> Result<Self, VadError> {
        let path = super::resolve_model(store, &cfg.model_ref(), Some("silero_vad.onnx"))?;
        let load_err = |message: String| VadError::Load {
            path: path.clone(),
            message,
        };
        let session = super::session(&path).map_err(load_err)?;
        super::check_io(&session, &["input", "state", "sr"], &["output", "stateN"])
            .map_err(|m| load_err(format!("{m} (a Silero VAD v5/v6 model has them)")))?;
        Ok(SileroModel {
            session,
            path,
            input: vec![0.0; CONTEXT_SAMPLES + WINDOW_SAMPLES],
            state: vec![0.0; STATE_LEN],
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
    }

    /// Speech probability of the next window of [`WINDOW_SAMPLES`] samples in -1..1.
    pub fn probability(&mut self, window: &[f32]) -> Result<f32, VadError> {
        let path = &self.path;
        let fail = |message: String| VadError::Inference {
            path: path.clone(),
            message,
        };
        if window.len() != WINDOW_SAMPLES {
            return Err(fail(format!(
                "Silero takes windows of {WINDOW_SAMPLES} samples, got {}",
                window.len()
            )));
        }
        self.input[CONTEXT_SAMPLES..].copy_from_slice(window);
        let err = |e: ort::Error| fail(e.to_string());
        let sr = [SAMPLE_RATE];
        let outputs = self
            .session
            .run(ort::inputs![
                "input" => TensorRef::from_array_view(([1usize, CONTEXT_SAMPLES + WINDOW_SAMPLES], &self.input[..])).map_err(err)?,
                "state" => TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(err)?,
                "sr" => TensorRef::from_array_view(([0usize; 0], &sr[..])).map_err(err)?,
            ])
            .map_err(err)?;
        let (_, prob) = super::output(&outputs, "output")
            .map_err(fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let prob = *prob
            .first()
            .ok_or_else(|| fail("its `output` is empty (expected one probability)".into()))?;
        let (_, state) = super::output(&outputs, "stateN")
            .map_err(fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        if state.len() != STATE_LEN {
            return Err(fail(format!(
                "its `stateN` has {} values, expected {STATE_LEN}",
                state.len()
            )));
        }
        self.state.copy_from_slice(state);
        drop(outputs);
        self.input.copy_within(WINDOW_SAMPLES.., 0);
        Ok(prob)
    }
}

/// Silero VAD with `get_speech_timestamps`' segmentation, fed in any chunk sizes.
pub struct SileroVad {
    model: SileroModel,
    segmenter: Segmenter,
    pending: Vec<f32>,
    fed: u64,
    last_prob: f32,
}

impl SileroVad {
    pub fn new(cfg: &VadConfig, store: &ModelStore) -> Result<SileroVad, VadError> {
        Ok(SileroVad {
            model: SileroModel::new(cfg, store)?,
            segmenter: Segmenter::new(cfg, WINDOW_SAMPLES),
            pending: Vec::with_capacity(WINDOW_SAMPLES),
            fed: 0,
            last_prob: 0.0,
        })
    }

    /// The speech probability of the last complete window.
    pub fn last_probability(&self) -> f32 {
        self.last_prob
    }

    /// Feeds samples in -1..1; calls `on_prob` with each window's probability.
    pub fn process_f32(
        &mut self,
        samples: &[f32],
        mut on_prob: impl FnMut(f32),
    ) -> Result<Vec<VadEvent>, VadError> {
        let mut events = Vec::new();
        self.fed += samples.len() as u64;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (WINDOW_SAMPLES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == WINDOW_SAMPLES {
                let prob = self.model.probability(&self.pending)?;
                self.pending.clear();
                self.last_prob = prob;
                on_prob(prob);
                self.segmenter.push(prob, &mut events);
            }
        }
        Ok(events)
    }
}

impl VoiceDetector for SileroVad {
    fn process(&mut self, samples: &[i16]) -> Result<Vec<VadEvent>, VadError> {
        let samples: Vec<f32> = samples
            .iter()
            .map(|&s| crate::audio::wav::i16_to_f32(s))
            .collect();
        self.process_f32(&samples, |_| {})
    }

    fn in_speech(&self) -> bool {
        self.segmenter.in_speech()
    }

    fn voiced(&self) -> bool {
        self.segmenter.voiced()
    }

    fn silence(&self) -> Option<super::Silence> {
        self.segmenter.silence()
    }

    fn flush(&mut self) -> Result<Vec<VadEvent>, VadError> {
        let mut events = Vec::new();
        // The reference zero-pads the last partial window and classifies it too.
        if !self.pending.is_empty() {
            self.pending.resize(WINDOW_SAMPLES, 0.0);
            let prob = self.model.probability(&self.pending)?;
            self.pending.clear();
            self.last_prob = prob;
            self.segmenter.push(prob, &mut events);
        }
        self.segmenter.finish(self.fed, &mut events);
        Ok(events)
    }

    fn reset(&mut self) {
        self.model.reset();
        self.segmenter.reset();
        self.pending.clear();
        self.fed = 0;
        self.last_prob = 0.0;
    }
}
