//! Where `say` and `ask` send speech: a WAV file with `--out`, else the configured ALSA
//! playback device. Either way the daemon's output thread feeds it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hearken::audio::{self, AudioConfig, Playback, PlaybackSettings};
use hearken::pipeline::{MemorySpeaker, PlaybackSpeaker, Speaker};

pub enum Out {
    File {
        path: PathBuf,
        rate: u32,
        speaker: MemorySpeaker,
    },
    Device,
}

/// Opens the speaker for speech at `rate`; [`Out::finish`] writes the WAV afterwards.
pub fn open(
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
