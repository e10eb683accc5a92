//! A whole recording through a [`Recognizer`], fed as the daemon feeds it (80 ms frames):
//! what `hearken transcribe` prints and what the Wyoming `asr` service answers, so both
//! give the same text for the same audio.

use std::time::Instant;

use serde::Serialize;

use super::{AsrError, AsrEvent, Recognizer};
use crate::audio::SAMPLE_RATE;

/// The pipeline's frame: 80 ms at 16 kHz.
pub const FRAME: usize = 1280;

#[derive(Debug, Serialize)]
pub struct Partial {
    pub t_ms: u64,
    pub text: String,
}

/// An utterance end: where in the audio it came, and how long the call that produced it took
/// (the compute part of the time from end of speech to final text).
#[derive(Debug, Serialize)]
pub struct Final {
    pub t_ms: u64,
    pub text: String,
    pub lag_ms: f64,
}

#[derive(Debug)]
pub struct Transcript {
    /// The non-empty finals, joined with spaces.
    pub text: String,
    pub partials: Vec<Partial>,
    pub finals: Vec<Final>,
}

/// Recognizes 16 kHz mono `samples` from the start of a fresh utterance.
pub fn transcribe(r: &mut dyn Recognizer, samples: &[f32]) -> Result<Transcript, AsrError> {
    r.begin();
    let mut finals = Vec::new();
    let mut partials = Vec::new();
    let mut fed = 0u64;
    let ms = |fed: u64| fed * 1000 / SAMPLE_RATE as u64;
    for frame in samples.chunks(FRAME) {
        fed += frame.len() as u64;
        let t = Instant::now();
        let events = r.feed(frame)?;
        let lag_ms = t.elapsed().as_secs_f64() * 1e3;
        for event in events {
            match event {
                AsrEvent::Partial(text) => partials.push(Partial {
                    t_ms: ms(fed),
                    text,
                }),
                AsrEvent::Final(text) => finals.push(Final {
                    t_ms: ms(fed),
                    text,
                    lag_ms,
                }),
            }
        }
    }
    let t = Instant::now();
    let text = r.finish()?;
    let lag_ms = t.elapsed().as_secs_f64() * 1e3;
    finals.push(Final {
        t_ms: ms(fed),
        text,
        lag_ms,
    });
    finals.retain(|f| !f.text.is_empty());
    let text = finals
        .iter()
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Transcript {
        text,
        partials,
        finals,
    })
}
