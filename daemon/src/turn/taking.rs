//! How the listener takes turns: the detector it asks at each pause, and what it does there.

use super::{SilenceOnly, TurnConfig, TurnDetector, TurnError, TurnMode};

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
pub fn build(cfg: &TurnConfig) -> Result<TurnTaking, TurnError> {
    let detector: Box<dyn TurnDetector> = match cfg.mode {
        TurnMode::Silence => Box::new(SilenceOnly),
        TurnMode::Smart => smart(cfg)?,
    };
    Ok(TurnTaking {
        detector,
        pause_ms: cfg.pause_ms,
        speculate: cfg.speculate,
    })
}

// HOOK for the Smart Turn model (daemon/src/turn/smart.rs, being built separately): construct
// it here from `cfg.model` / `cfg.threshold` once it lands. The listener already asks the
// detector at each pause and ends the turn at `fallback_ms` of silence in smart mode.
fn smart(cfg: &TurnConfig) -> Result<Box<dyn TurnDetector>, TurnError> {
    Err(TurnError::Load {
        path: cfg.model.clone().into(),
        message: "smart turn model not built yet; use [turn] mode = \"silence\"".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_mode_never_ends_a_turn_early_and_smart_mode_says_it_is_missing() {
        let mut t = build(&TurnConfig::default()).unwrap();
        assert!(!t.detector.verdict(&[0; 1600]).unwrap().complete);
        let smart = TurnConfig {
            mode: TurnMode::Smart,
            ..TurnConfig::default()
        };
        let e = build(&smart).err().unwrap().to_string();
        assert!(e.contains("smart turn model not built yet"), "{e}");
    }
}
