//! End of turn: whether the user has finished speaking when they pause.
//!
//! The listener asks a [`TurnDetector`] at every short pause once the user has begun
//! speaking. "Complete" ends the turn at once; otherwise the listener keeps listening and
//! asks again at the next pause, and a long silence (the fallback) ends the turn regardless.
//! [`SilenceOnly`] is never sure, so with it the fallback silence is the endpoint.

mod config;
pub mod eval;
pub mod mel;
mod smart;
mod taking;

pub use config::{TurnConfig, TurnMode};
pub use smart::SmartTurn;
pub use taking::{build, TurnTaking};

/// What a detector says about the speech so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub complete: bool,
    /// The detector's probability that the speaker has finished (1.0 or 0.0 for rules).
    pub probability: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error(transparent)]
    Runtime(#[from] crate::native::NativeError),
    #[error("cannot load turn model {path}: {message}")]
    Load {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("turn detection with {path} failed: {message}")]
    Inference {
        path: std::path::PathBuf,
        message: String,
    },
}

pub trait TurnDetector: Send {
    /// `speech`: the user's turn so far, 16 kHz mono, from its first sample (pre-roll
    /// included) up to the pause. A detector keeps only the tail it needs.
    fn verdict(&mut self, speech: &[i16]) -> Result<Verdict, TurnError>;
}

/// `[turn] mode = "silence"`: the turn ends after the fallback silence, as before.
pub struct SilenceOnly;

impl TurnDetector for SilenceOnly {
    fn verdict(&mut self, _speech: &[i16]) -> Result<Verdict, TurnError> {
        Ok(Verdict {
            complete: false,
            probability: 0.0,
        })
    }
}

/// The detector `[turn] mode` asks for: the Smart Turn model, or [`SilenceOnly`].
pub fn detector(
    cfg: &TurnConfig,
    store: &crate::models::ModelStore,
) -> Result<Box<dyn TurnDetector>, TurnError> {
    Ok(match cfg.mode {
        TurnMode::Smart => Box::new(SmartTurn::new(cfg, store)?),
        TurnMode::Silence => Box::new(SilenceOnly),
    })
}
