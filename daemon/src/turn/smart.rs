//! Smart Turn v3 (pipecat-ai's end-of-turn classifier): a Whisper-tiny encoder over 8 s of
//! log-mel features ([`super::mel`]) giving the probability that the speaker has finished.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::mel::{LogMel, N_FRAMES, N_MELS};
use super::{TurnConfig, TurnDetector, TurnError, Verdict};
use crate::models::ModelStore;

const INPUT: &str = "input_features";

pub struct SmartTurn {
    session: Session,
    path: PathBuf,
    output: String,
    threshold: f32,
    mel: LogMel,
    features: Vec<f32>,
}

impl SmartTurn {
    pub fn new(cfg: &TurnConfig, store: &ModelStore) -> Result<SmartTurn, TurnError> {
        let path = crate::vad::resolve_model(store, &cfg.model_ref(), None)?;
        let load_err = |message: String| TurnError::Load {
            path: path.clone(),
            message,
        };
        let session = crate::vad::session_with_threads(&path, cfg.threads).map_err(load_err)?;
        crate::vad::check_io(&session, &[INPUT], &[])
            .map_err(|m| load_err(format!("{m} (a Smart Turn v3 model has them)")))?;
        let output = crate::vad::first_output(&session).map_err(load_err)?;
        Ok(SmartTurn {
            session,
            path,
            output,
            threshold: cfg.threshold,
            mel: LogMel::new(),
            features: vec![0.0; N_MELS * N_FRAMES],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's probability that the speech (16 kHz, its last 8 s used) is a finished turn.
    pub fn probability(&mut self, speech: &[i16]) -> Result<f32, TurnError> {
        self.mel.compute(speech, &mut self.features);
        self.run()
    }

    /// The features the model was last given, `[N_MELS][N_FRAMES]` (for parity checks).
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    fn run(&mut self) -> Result<f32, TurnError> {
        let path = &self.path;
        let fail = |message: String| TurnError::Inference {
            path: path.clone(),
            message,
        };
        let err = |e: ort::Error| fail(e.to_string());
        let input = TensorRef::from_array_view(([1usize, N_MELS, N_FRAMES], &self.features[..]))
            .map_err(err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT => input])
            .map_err(err)?;
        let (_, prob) = crate::vad::output(&outputs, &self.output)
            .map_err(fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        // The v3 exports end in a sigmoid: the value is already a probability.
        prob.first().copied().ok_or_else(|| {
            fail(format!(
                "its `{}` is empty (expected one probability)",
                self.output
            ))
        })
    }
}

impl TurnDetector for SmartTurn {
    fn verdict(&mut self, speech: &[i16]) -> Result<Verdict, TurnError> {
        let probability = self.probability(speech)?;
        Ok(Verdict {
            complete: probability >= self.threshold,
            probability,
        })
    }
}
