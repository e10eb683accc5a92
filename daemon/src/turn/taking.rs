//! How the listener takes turns: the detector it asks at each pause, and what it does there.

use super::{SilenceOnly, TurnConfig, TurnDetector, TurnError};
use crate::models::ModelStore;

pub struct TurnTaking {
    pub detector: Box<dyn TurnDetector>,
    /// Silence inside the user's speech at which the detector is asked.
    pub pause_ms: u32,
    /// Decode and start answering at the pause, before the turn is confirmed.
    pub speculate: bool,
}

impl TurnTaking {
    /// Today's behaviour: the endpoint's silence ends the turn, nothing is speculated.
    pub fn silence_only() -> Self {
        TurnTaking {
            detector: Box::new(SilenceOnly),
            pause_ms: TurnConfig::default().pause_ms,
            speculate: false,
        }
    }
}

/// The turn taking `[turn]` asks for.
pub fn build(cfg: &TurnConfig, store: &ModelStore) -> Result<TurnTaking, TurnError> {
    Ok(TurnTaking {
        detector: super::detector(cfg, store)?,
        pause_ms: cfg.pause_ms,
        speculate: cfg.speculate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_mode_never_ends_a_turn_early() {
        let store = ModelStore::new(&crate::models::ModelsConfig::default());
        let mut t = build(&TurnConfig::default(), &store).unwrap();
        assert!(!t.detector.verdict(&[0; 1600]).unwrap().complete);
    }
}
