//! Where `say` and `ask` send speech: a WAV file with `--out`, else the configured ALSA
//! playback device, fed piece by piece as synthesis produces it.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use hearken::audio::{self, AudioConfig, Playback, PlaybackSettings};

pub enum Speaker {
    File {
        path: PathBuf,
        rate: u32,
        pcm: Vec<i16>,
    },
    Device(Playback),
}

impl Speaker {
    pub fn open(out: Option<&Path>, audio: &AudioConfig, rate: u32) -> anyhow::Result<Speaker> {
        Ok(match out {
            Some(path) => Speaker::File {
                path: path.to_owned(),
                rate,
                pcm: Vec::new(),
            },
            None => Speaker::Device(
                Playback::start(&PlaybackSettings::from_config(audio), rate).with_context(
                    || format!("opening playback device `{}`", audio.playback_device),
                )?,
            ),
        })
    }

    /// Queues speech; on a device this waits for room, so synthesis runs ahead by at most
    /// the playback ring.
    pub fn play(&mut self, pcm: &[i16]) {
        match self {
            Speaker::File { pcm: all, .. } => all.extend_from_slice(pcm),
            Speaker::Device(playback) => {
                playback.write_blocking(pcm, &AtomicBool::new(false));
            }
        }
    }

    /// Writes the WAV, or waits until the device has played everything.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Speaker::File { path, rate, pcm } => audio::wav::write_i16(&path, rate, 1, &pcm)
                .with_context(|| format!("writing {}", path.display())),
            Speaker::Device(playback) => {
                playback.finish();
                Ok(())
            }
        }
    }
}
