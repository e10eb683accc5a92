//! Short audio cues: the wake word was heard, listening ended, something failed.
//!
//! Generated tones by default (no files to ship), or WAV files from the config. They are
//! played on the reply's output but never counted as part of an answer.

use std::path::{Path, PathBuf};

use super::config::EarconConfig;
use crate::audio::{resample, wav};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Wake,
    Done,
    Error,
}

#[derive(Debug, thiserror::Error)]
pub enum EarconError {
    /// `error` names the file already (and is no `source`, so it is not printed twice).
    #[error("earcon: {error}; fix pipeline.earcons or leave it empty for the built-in tone")]
    Wav { path: PathBuf, error: wav::WavError },
    #[error(
        "earcon {path}: {message}; fix pipeline.earcons or leave it empty for the built-in tone"
    )]
    Audio { path: PathBuf, message: String },
}

impl EarconError {
    /// The cue file at fault.
    pub fn path(&self) -> &Path {
        match self {
            EarconError::Wav { path, .. } | EarconError::Audio { path, .. } => path,
        }
    }
}

/// The longest cue file accepted: a cue is a blip, and a long one would hold up every turn.
const MAX_SECONDS: f64 = 10.0;

/// The three cues, rendered once at the output rate.
#[derive(Debug, Clone, Default)]
pub struct Earcons {
    wake: Vec<i16>,
    done: Vec<i16>,
    error: Vec<i16>,
}

impl Earcons {
    /// Renders the configured cues at `rate` Hz; disabled cues are empty.
    pub fn load(config: &EarconConfig, rate: u32) -> Result<Self, EarconError> {
        if !config.enabled || config.volume <= 0.0 {
            return Ok(Earcons::default());
        }
        let render = |path: &Path, tones: &[(f32, f32, u32)]| -> Result<Vec<i16>, EarconError> {
            let samples = if path.as_os_str().is_empty() {
                tone_sequence(tones, rate)
            } else {
                let audio = wav::read(path).map_err(|error| EarconError::Wav {
                    path: path.to_owned(),
                    error,
                })?;
                let fail = |message: String| EarconError::Audio {
                    path: path.to_owned(),
                    message,
                };
                if audio.samples.is_empty() {
                    return Err(fail("it holds no audio (0 samples)".into()));
                }
                let seconds = audio.duration_s();
                if seconds > MAX_SECONDS {
                    return Err(fail(format!(
                        "it is {seconds:.1} s long; a cue should be short (at most {MAX_SECONDS} s)"
                    )));
                }
                resample::resample(&audio.to_mono(), audio.sample_rate, rate)
                    .map_err(|e| fail(e.to_string()))?
            };
            Ok(to_i16(&samples, config.volume))
        };
        Ok(Earcons {
            // A rising pair: "I'm listening".
            wake: render(&config.wake, &[(880.0, 1320.0, 70), (1320.0, 1320.0, 70)])?,
            // A falling pair: "got it".
            done: render(&config.done, &[(1320.0, 880.0, 60), (880.0, 880.0, 60)])?,
            // Two low pulses.
            error: render(
                &config.error,
                &[(330.0, 330.0, 120), (0.0, 0.0, 60), (220.0, 220.0, 180)],
            )?,
        })
    }

    pub fn get(&self, cue: Cue) -> &[i16] {
        match cue {
            Cue::Wake => &self.wake,
            Cue::Done => &self.done,
            Cue::Error => &self.error,
        }
    }
}

/// Sine glides `(from Hz, to Hz, ms)` with 5 ms fades so they do not click; 0 Hz is a rest.
fn tone_sequence(tones: &[(f32, f32, u32)], rate: u32) -> Vec<f32> {
    let mut out = Vec::new();
    let mut phase = 0.0f32;
    let fade = (rate as f32 * 0.005) as usize;
    for &(from, to, ms) in tones {
        let n = (rate as u64 * ms as u64 / 1000) as usize;
        for i in 0..n {
            let f = from + (to - from) * i as f32 / n as f32;
            phase += std::f32::consts::TAU * f / rate as f32;
            let edge = i.min(n - 1 - i);
            let env = if edge < fade {
                edge as f32 / fade as f32
            } else {
                1.0
            };
            out.push(if from == 0.0 { 0.0 } else { phase.sin() * env });
        }
    }
    out
}

fn to_i16(samples: &[f32], volume: f32) -> Vec<i16> {
    samples
        .iter()
        .map(|s| (s * volume * 32767.0).clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cues_have_their_length_and_volume() {
        let config = EarconConfig::default();
        let e = Earcons::load(&config, 22_050).unwrap();
        assert_eq!(e.get(Cue::Wake).len(), 2 * (22_050 * 70 / 1000));
        let peak = e.get(Cue::Wake).iter().map(|s| s.unsigned_abs()).max();
        let want = (config.volume * 32767.0) as u16;
        assert!(
            peak.unwrap().abs_diff(want) < want / 50,
            "{peak:?} vs {want}"
        );
        let error_len: usize = [120, 60, 180].iter().map(|ms| 22_050 * ms / 1000).sum();
        assert_eq!(e.get(Cue::Error).len(), error_len);
    }

    #[test]
    fn disabled_cues_are_silent() {
        let config = EarconConfig {
            enabled: false,
            ..Default::default()
        };
        let e = Earcons::load(&config, 16_000).unwrap();
        assert!(e.get(Cue::Wake).is_empty() && e.get(Cue::Done).is_empty());
    }

    #[test]
    fn wav_cue_is_resampled_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ding.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..800 {
            w.write_sample(((i as f32 * 0.3).sin() * 20000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
        let config = EarconConfig {
            wake: path.clone(),
            ..Default::default()
        };
        let e = Earcons::load(&config, 16_000).unwrap();
        assert_eq!(e.get(Cue::Wake).len(), 1600);
        let bad = EarconConfig {
            done: dir.path().join("nope.wav"),
            ..Default::default()
        };
        let err = Earcons::load(&bad, 16_000).unwrap_err().to_string();
        assert!(err.contains("nope.wav"), "{err}");
    }
}
