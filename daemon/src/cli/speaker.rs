//! Where `say` and `ask` send speech: a WAV file with `--out`, else the configured ALSA
//! playback device. Either way the daemon's output thread feeds it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hearken::audio::{self, AudioConfig, Playback, PlaybackSettings};
use hearken::config::Config;
use hearken::models::ModelStore;
use hearken::pipeline::{speak_once, MemorySpeaker, PlaybackSpeaker, Speaker, Speech, Spoken};
use hearken::tts::{PiperVoice, Synthesizer};

/// Speaks `speech` with the configured voice through the daemon's TTS and output threads
/// into `out` (a WAV) or the playback device; returns what was spoken and the voice's rate.
pub fn speak(
    cfg: &Config,
    out: Option<&Path>,
    speech: Speech,
    cancel_after_chunks: Option<usize>,
) -> anyhow::Result<(Spoken, u32)> {
    let voice = PiperVoice::new(&cfg.tts, &ModelStore::new(&cfg.models))?;
    let rate = voice.sample_rate();
    let (speaker, out) = open(out, &cfg.audio, rate)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spoken = runtime.block_on(speak_once(
        Box::new(voice),
        speaker,
        speech,
        cancel_after_chunks,
    ))?;
    out.finish()?;
    Ok((spoken, rate))
}

pub enum Out {
    File {
        path: PathBuf,
        rate: u32,
        speaker: MemorySpeaker,
    },
    Device,
}

/// Opens the speaker for speech at `rate`; [`Out::finish`] writes the WAV afterwards.
fn open(
    out: Option<&Path>,
    audio: &AudioConfig,
    rate: u32,
) -> anyhow::Result<(Box<dyn Speaker>, Out)> {
    Ok(match out {
        Some(path) => {
            let speaker = MemorySpeaker::new();
            (
                Box::new(speaker.clone()),
                Out::File {
                    path: path.to_owned(),
                    rate,
                    speaker,
                },
            )
        }
        None => {
            let playback = Playback::start(&PlaybackSettings::from_config(audio), rate)
                .with_context(|| format!("opening playback device `{}`", audio.playback_device))?;
            (Box::new(PlaybackSpeaker::new(playback)), Out::Device)
        }
    })
}

impl Out {
    /// Writes the WAV (the device was played out and closed by the output thread).
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Out::File {
                path,
                rate,
                speaker,
            } => audio::wav::write_i16(&path, rate, 1, &speaker.samples())
                .with_context(|| format!("writing {}", path.display())),
            Out::Device => Ok(()),
        }
    }
}
