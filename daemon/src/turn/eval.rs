//! Offline end-of-turn evaluation: walks a recording the way the listener does and says
//! where the turn would have ended (`hearken turn-eval`, daemon/tests/turn_eval.rs).
//!
//! The turn starts at the VAD's speech start. After it, every VAD window either is voiced
//! (the silence count restarts) or adds to the silence. [`Endpoint::Silence`] ends the turn
//! at a fixed silence; [`Endpoint::Smart`] asks the detector once per pause, when the silence
//! reaches `pause_ms`, with the turn's audio from [`PRE_ROLL_MS`] before the speech start,
//! ends the turn if it says complete, and ends it anyway at `fallback_ms`.

use std::time::{Duration, Instant};

use super::{TurnDetector, TurnError};
use crate::vad::{VadError, VadEvent, VoiceDetector, WINDOW_SAMPLES};

/// Audio before the VAD's speech start handed to the detector (pipecat's `pre_speech_ms`).
pub const PRE_ROLL_MS: u32 = 500;
const SAMPLES_PER_MS: u64 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `[turn] mode = "silence"`: this much silence ends the turn.
    Silence { ms: u32 },
    /// `[turn] mode = "smart"`.
    Smart { pause_ms: u32, fallback_ms: u32 },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Silence { ms } => write!(f, "silence {ms} ms"),
            Endpoint::Smart {
                pause_ms,
                fallback_ms,
            } => write!(f, "smart at {pause_ms} ms, fallback {fallback_ms} ms"),
        }
    }
}

/// Where a walk ended the turn.
#[derive(Debug, Clone, Default)]
pub struct TurnEnd {
    /// The sample at which the turn ended; `None` if the recording ran out first.
    pub sample: Option<u64>,
    /// How long each question to the detector took.
    pub verdict_times: Vec<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Vad(#[from] VadError),
    #[error(transparent)]
    Turn(#[from] TurnError),
}

/// Walks 16 kHz `audio` from its start (the VAD is reset first).
pub fn walk(
    audio: &[i16],
    vad: &mut dyn VoiceDetector,
    detector: &mut dyn TurnDetector,
    endpoint: Endpoint,
) -> Result<TurnEnd, EvalError> {
    vad.reset();
    let mut end = TurnEnd::default();
    let mut start: Option<u64> = None;
    let mut silence = 0u64;
    let mut asked = false;
    let mut fed = 0u64;
    for chunk in audio.chunks(WINDOW_SAMPLES) {
        let events = vad.process(chunk)?;
        fed += chunk.len() as u64;
        if start.is_none() {
            start = events.iter().find_map(|e| match e {
                VadEvent::SpeechStart { sample } => Some(*sample),
                VadEvent::SpeechEnd { .. } => None,
            });
            if start.is_none() {
                continue;
            }
        }
        if vad.voiced() {
            silence = 0;
            asked = false;
            continue;
        }
        silence += chunk.len() as u64;
        let done = match endpoint {
            Endpoint::Silence { ms } => silence >= u64::from(ms) * SAMPLES_PER_MS,
            Endpoint::Smart {
                pause_ms,
                fallback_ms,
            } => {
                if silence >= u64::from(fallback_ms) * SAMPLES_PER_MS {
                    true
                } else if !asked && silence >= u64::from(pause_ms) * SAMPLES_PER_MS {
                    asked = true;
                    let from = start
                        .unwrap_or(0)
                        .saturating_sub(u64::from(PRE_ROLL_MS) * SAMPLES_PER_MS);
                    let asked_at = Instant::now();
                    let verdict = detector.verdict(&audio[from as usize..fed as usize])?;
                    end.verdict_times.push(asked_at.elapsed());
                    verdict.complete
                } else {
                    false
                }
            }
        };
        if done {
            end.sample = Some(fed);
            break;
        }
    }
    Ok(end)
}
