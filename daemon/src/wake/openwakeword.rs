//! openWakeWord keyword classifiers over the shared feature front end, with per-word
//! thresholds, a refractory period and optional Silero VAD gating.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::features::{Features, EMBEDDING_DIM};
use super::{Detection, WakeConfig, WakeEngine, WakeError, WakeWordName, FRAME_SAMPLES};
use crate::models::ModelStore;
use crate::vad::{SileroVad, VadConfig};

/// openwakeword reports 0 for a model's first frames, while its history is start-up noise.
const WARMUP_FRAMES: u64 = 5;
const FRAME_MS: u32 = 80;
/// openwakeword's gate looks at the VAD 7 to 5 frames back: a wake word scores highest
/// just after it is spoken.
const GATE_FRAMES: std::ops::Range<usize> = 4..7;

struct Classifier {
    word: WakeWordName,
    path: PathBuf,
    session: Session,
    /// The model's input and its first output (the score).
    input: String,
    output: String,
    /// Embeddings per input window (16 for the bundled keywords).
    window: usize,
    threshold: f32,
    /// Frames left in the refractory period.
    quiet: u32,
}

pub struct OpenWakeWord {
    features: Features,
    classifiers: Vec<Classifier>,
    scores: Vec<(String, f32)>,
    frames: u64,
    refractory_frames: u32,
    gate: Option<Gate>,
    input: Vec<f32>,
}

struct Gate {
    vad: SileroVad,
    threshold: f32,
    /// Highest speech probability per frame, newest last.
    recent: std::collections::VecDeque<f32>,
}

impl OpenWakeWord {
    /// With `vad_gate`, the gate runs the default Silero VAD; see [`Self::with_vad`].
    pub fn new(cfg: &WakeConfig, store: &ModelStore) -> Result<Self, WakeError> {
        Self::with_vad(cfg, &VadConfig::default(), store)
    }

    /// Like [`Self::new`], the `vad_gate` using `vad`'s model and threshold.
    pub fn with_vad(
        cfg: &WakeConfig,
        vad: &VadConfig,
        store: &ModelStore,
    ) -> Result<Self, WakeError> {
        if cfg.words.is_empty() {
            return Err(WakeError::NoWords);
        }
        let mel = store.file("openwakeword-features", "melspectrogram.onnx")?;
        let embedding = store.file("openwakeword-features", "embedding_model.onnx")?;
        let features = Features::new(&mel, &embedding)?;
        let refs = cfg.model_refs();
        let mut classifiers = Vec::new();
        for (spec, model) in cfg.words.iter().zip(&refs[1..]) {
            let path = crate::vad::resolve_model(store, model, None)?;
            let word = WakeWordName::from_config(spec);
            let threshold = threshold_of(cfg, &word, spec);
            classifiers.push(Classifier::load(word, &path, threshold)?);
        }
        let gate = if cfg.vad_gate {
            Some(Gate {
                threshold: vad.threshold,
                vad: SileroVad::new(vad, store)?,
                recent: Default::default(),
            })
        } else {
            None
        };
        Ok(OpenWakeWord {
            scores: classifiers
                .iter()
                .map(|c| (c.word.as_str().to_string(), 0.0))
                .collect(),
            features,
            classifiers,
            frames: 0,
            refractory_frames: cfg.refractory_ms.div_ceil(FRAME_MS),
            gate,
            input: Vec::new(),
        })
    }

    /// The words' names, in config order.
    pub fn words(&self) -> Vec<String> {
        self.classifiers
            .iter()
            .map(|c| c.word.as_str().to_string())
            .collect()
    }

    fn gate_open(&mut self, frame: &[i16]) -> Result<bool, WakeError> {
        let Some(gate) = &mut self.gate else {
            return Ok(true);
        };
        let samples: Vec<f32> = frame
            .iter()
            .map(|&s| crate::audio::wav::i16_to_f32(s))
            .collect();
        let mut best = 0.0f32;
        gate.vad.process_f32(&samples, |p| best = best.max(p))?;
        gate.recent.push_back(best);
        if gate.recent.len() > GATE_FRAMES.end {
            gate.recent.pop_front();
        }
        let n = gate.recent.len();
        let open = gate
            .recent
            .iter()
            .enumerate()
            .filter(|(i, _)| GATE_FRAMES.contains(&(n - 1 - i)))
            .any(|(_, &p)| p >= gate.threshold);
        Ok(open)
    }
}

impl Classifier {
    fn load(word: WakeWordName, path: &Path, threshold: f32) -> Result<Self, WakeError> {
        let load_err = |message: String| WakeError::Load {
            path: path.to_owned(),
            message,
        };
        let session = crate::vad::session(path).map_err(load_err)?;
        let first = session.inputs().first();
        let shape = first.and_then(|i| i.dtype().tensor_shape().map(|s| s.to_vec()));
        let window = match shape.as_deref() {
            Some([_, n, d]) if *n > 0 && *d == EMBEDDING_DIM as i64 => *n as usize,
            _ => {
                return Err(load_err(format!(
                    "not an openWakeWord classifier: its input should be [1, N, {EMBEDDING_DIM}], found {shape:?}"
                )))
            }
        };
        let input = first.map(|i| i.name().to_string()).unwrap_or_default();
        let output = crate::vad::first_output(&session).map_err(|m| {
            load_err(format!(
                "not an openWakeWord classifier: {m} (it should output a score)"
            ))
        })?;
        Ok(Classifier {
            word,
            path: path.to_owned(),
            session,
            input,
            output,
            window,
            threshold,
            quiet: 0,
        })
    }

    /// Multi-class models (openWakeWord's timer and weather intents) put background in
    /// class 0; the word's score is its best other class.
    fn score(&mut self, input: &[f32]) -> Result<f32, WakeError> {
        let path = &self.path;
        let fail = |message: String| WakeError::Inference {
            path: path.clone(),
            message,
        };
        let err = |e: ort::Error| fail(e.to_string());
        let outputs = self
            .session
            .run(ort::inputs![
                self.input.as_str() => TensorRef::from_array_view(([1usize, self.window, EMBEDDING_DIM], input)).map_err(err)?
            ])
            .map_err(err)?;
        let (_, values) = crate::vad::output(&outputs, &self.output)
            .map_err(fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        Ok(match values {
            [single] => *single,
            [_, classes @ ..] => classes.iter().copied().fold(0.0, f32::max),
            [] => 0.0,
        })
    }
}

/// A word's threshold: its own entry in `thresholds` (by name or as configured), else
/// `threshold`.
fn threshold_of(cfg: &WakeConfig, word: &WakeWordName, spec: &str) -> f32 {
    cfg.thresholds
        .get(word.as_str())
        .or_else(|| cfg.thresholds.get(spec))
        .copied()
        .unwrap_or(cfg.threshold)
}

impl WakeEngine for OpenWakeWord {
    fn process(&mut self, frame: &[i16]) -> Result<Vec<Detection>, WakeError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(WakeError::FrameSize(frame.len()));
        }
        self.features.push(frame)?;
        let warm = self.frames >= WARMUP_FRAMES;
        self.frames += 1;
        let gate_open = self.gate_open(frame)?;
        let mut detections = Vec::new();
        for (c, slot) in self.classifiers.iter_mut().zip(&mut self.scores) {
            self.features.window(c.window, &mut self.input);
            let score = if warm { c.score(&self.input)? } else { 0.0 };
            slot.1 = score;
            if c.quiet > 0 {
                c.quiet -= 1;
                continue;
            }
            if score >= c.threshold && gate_open {
                c.quiet = self.refractory_frames;
                detections.push(Detection {
                    word: c.word.as_str().to_string(),
                    score,
                });
            }
        }
        Ok(detections)
    }

    fn scores(&self) -> &[(String, f32)] {
        &self.scores
    }

    fn reset(&mut self) {
        self.features.reset();
        self.frames = 0;
        for c in &mut self.classifiers {
            c.quiet = 0;
        }
        for s in &mut self.scores {
            s.1 = 0.0;
        }
        if let Some(gate) = &mut self.gate {
            crate::vad::VoiceDetector::reset(&mut gate.vad);
            gate.recent.clear();
        }
    }

    fn retune(&mut self, cfg: &WakeConfig) {
        // By name: a word no longer configured keeps its threshold until the restart that
        // drops it.
        for c in &mut self.classifiers {
            let spec = cfg
                .words
                .iter()
                .find(|w| WakeWordName::from_config(w).as_str() == c.word.as_str());
            if let Some(spec) = spec {
                c.threshold = threshold_of(cfg, &c.word, spec);
            }
        }
        self.refractory_frames = cfg.refractory_ms.div_ceil(FRAME_MS);
    }
}
