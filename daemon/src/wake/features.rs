//! openWakeWord's streaming front end: melspectrogram.onnx over each 80 ms frame (plus the
//! 480 samples before it), scaled `x / 10 + 2`, then embedding_model.onnx over the last 76 mel
//! frames, one 96-value embedding per frame — the framing of openwakeword 0.5.1's
//! `AudioFeatures._streaming_features` fed 1280-sample chunks.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::{WakeError, FRAME_SAMPLES};

pub const MEL_BINS: usize = 32;
pub const MEL_WINDOW: usize = 76;
pub const EMBEDDING_DIM: usize = 96;
/// Samples of history before each frame the melspectrogram sees (3 hops of 160).
const MEL_LOOKBACK: usize = 480;
/// openwakeword keeps about 10 s of embeddings.
const MAX_EMBEDDINGS: usize = 120;

pub struct Features {
    mel: Session,
    embedding: Session,
    paths: [PathBuf; 2],
    /// Each model's first output, the one read.
    outputs: [String; 2],
    raw: VecDeque<f32>,
    mel_frames: VecDeque<[f32; MEL_BINS]>,
    embeddings: VecDeque<[f32; EMBEDDING_DIM]>,
    initial_embeddings: Vec<[f32; EMBEDDING_DIM]>,
    /// Scratch for model inputs.
    input: Vec<f32>,
}

/// Opens one front-end model, checking it takes `input` and has an output to read.
fn load(path: &Path, input: &str) -> Result<(Session, String), WakeError> {
    let load_err = |message: String| WakeError::Load {
        path: path.to_owned(),
        message,
    };
    let session = crate::vad::session(path).map_err(load_err)?;
    crate::vad::check_io(&session, &[input], &[]).map_err(load_err)?;
    let output = crate::vad::first_output(&session).map_err(load_err)?;
    Ok((session, output))
}

fn inference(path: &Path) -> impl Fn(String) -> WakeError + '_ {
    move |message| WakeError::Inference {
        path: path.to_owned(),
        message,
    }
}

impl Features {
    pub fn new(mel_path: &Path, embedding_path: &Path) -> Result<Self, WakeError> {
        let (mel, mel_output) = load(mel_path, "input")?;
        let (embedding, embedding_output) = load(embedding_path, "input_1")?;
        let mut features = Features {
            mel,
            embedding,
            paths: [mel_path.to_owned(), embedding_path.to_owned()],
            outputs: [mel_output, embedding_output],
            raw: VecDeque::with_capacity(FRAME_SAMPLES + MEL_LOOKBACK),
            mel_frames: VecDeque::with_capacity(MEL_WINDOW + 8),
            embeddings: VecDeque::with_capacity(MAX_EMBEDDINGS + 1),
            initial_embeddings: Vec::new(),
            input: Vec::with_capacity(MEL_WINDOW * MEL_BINS),
        };
        // openwakeword starts its embedding history from 4 s of random noise in ±1000, so
        // the classifiers never see an empty window; a fixed noise makes runs repeatable.
        let noise: Vec<f32> = startup_noise().into_iter().map(f32::from).collect();
        let mel = features.melspectrogram(&noise)?;
        let mut start = 0;
        while start + MEL_WINDOW <= mel.len() {
            let emb = features.embed(&mel[start..start + MEL_WINDOW])?;
            features.initial_embeddings.push(emb);
            start += 8;
        }
        features.reset();
        Ok(features)
    }

    pub fn reset(&mut self) {
        self.raw.clear();
        self.mel_frames.clear();
        self.mel_frames
            .extend(std::iter::repeat_n([1.0; MEL_BINS], MEL_WINDOW));
        self.embeddings.clear();
        self.embeddings
            .extend(self.initial_embeddings.iter().copied());
    }

    /// Adds one 1280-sample frame; afterwards [`Self::window`] includes its embedding.
    pub fn push(&mut self, frame: &[i16]) -> Result<(), WakeError> {
        debug_assert_eq!(frame.len(), FRAME_SAMPLES);
        self.raw.extend(frame.iter().map(|&s| f32::from(s)));
        while self.raw.len() > FRAME_SAMPLES + MEL_LOOKBACK {
            self.raw.pop_front();
        }
        let raw: Vec<f32> = self.raw.iter().copied().collect();
        let mel = self.melspectrogram(&raw)?;
        for row in mel {
            self.mel_frames.push_back(row);
        }
        while self.mel_frames.len() > MEL_WINDOW {
            self.mel_frames.pop_front();
        }
        let window: Vec<[f32; MEL_BINS]> = self.mel_frames.iter().copied().collect();
        let emb = self.embed(&window)?;
        self.embeddings.push_back(emb);
        while self.embeddings.len() > MAX_EMBEDDINGS {
            self.embeddings.pop_front();
        }
        Ok(())
    }

    /// The last `n` embeddings, oldest first, flattened (`n * 96` values).
    pub fn window(&self, n: usize, out: &mut Vec<f32>) {
        out.clear();
        let skip = self.embeddings.len().saturating_sub(n);
        for row in self.embeddings.iter().skip(skip) {
            out.extend_from_slice(row);
        }
    }

    fn melspectrogram(&mut self, samples: &[f32]) -> Result<Vec<[f32; MEL_BINS]>, WakeError> {
        let fail = inference(&self.paths[0]);
        let err = |e: ort::Error| fail(e.to_string());
        let outputs = self
            .mel
            .run(ort::inputs![
                "input" => TensorRef::from_array_view(([1usize, samples.len()], samples)).map_err(err)?
            ])
            .map_err(err)?;
        let (_, values) = crate::vad::output(&outputs, &self.outputs[0])
            .map_err(&fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        if values.is_empty() || values.len() % MEL_BINS != 0 {
            return Err(fail(format!(
                "expected rows of {MEL_BINS} mel bins, got {} values",
                values.len()
            )));
        }
        Ok(values
            .chunks_exact(MEL_BINS)
            .map(|row| std::array::from_fn(|i| row[i] / 10.0 + 2.0))
            .collect())
    }

    fn embed(&mut self, mel: &[[f32; MEL_BINS]]) -> Result<[f32; EMBEDDING_DIM], WakeError> {
        debug_assert_eq!(mel.len(), MEL_WINDOW);
        self.input.clear();
        for row in mel {
            self.input.extend_from_slice(row);
        }
        let fail = inference(&self.paths[1]);
        let err = |e: ort::Error| fail(e.to_string());
        let outputs = self
            .embedding
            .run(ort::inputs![
                "input_1" => TensorRef::from_array_view(([1usize, MEL_WINDOW, MEL_BINS, 1], &self.input[..])).map_err(err)?
            ])
            .map_err(err)?;
        let (_, values) = crate::vad::output(&outputs, &self.outputs[1])
            .map_err(&fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        if values.len() != EMBEDDING_DIM {
            return Err(fail(format!(
                "expected {EMBEDDING_DIM} values per embedding, got {}",
                values.len()
            )));
        }
        Ok(std::array::from_fn(|i| values[i]))
    }
}

/// 4 s of integers uniform in [-1000, 1000) from a 31-bit LCG (the same sequence
/// scripts/reference/wake_scores.py puts in the reference's embedding history).
pub fn startup_noise() -> Vec<i16> {
    let mut state: u32 = 12345;
    (0..4 * 16000)
        .map(|_| {
            state = state.wrapping_mul(1103515245).wrapping_add(12345) & 0x7fff_ffff;
            ((state >> 16) % 2000) as i16 - 1000
        })
        .collect()
}
