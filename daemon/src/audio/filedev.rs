//! File-backed ALSA devices for machines without a sound card (tests, `hearken simulate`).
//!
//! alsa-lib's `file` PCM plugin over a `null` slave: capture reads raw S16_LE samples from
//! `infile` (at its end a read returns no frames, which the capture thread reports as the
//! input ending), playback writes them to `file`. Neither paces itself in real time: use
//! [`Pacing::Realtime`](super::Pacing) for latency measurements.
//!
//! alsa-lib reads its configuration once per process, from the files listed in
//! `ALSA_CONFIG_PATH` (if set) when the first device is opened. So either set
//! [`FileDevices::alsa_config_path`] in a child's environment (tests), or call
//! [`FileDevices::activate`] in this process before any audio thread starts and before
//! any other thread exists that may read the environment.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{AudioConfig, AudioError, CaptureSettings, PlaybackSettings};

/// alsa-lib's own top-level configuration, which defines the plugin types.
pub const ALSA_CONF: &str = "/usr/share/alsa/alsa.conf";

/// Default PCM names of [`FileDevices::create`].
pub const CAPTURE_PCM: &str = "hearken_file_capture";
pub const PLAYBACK_PCM: &str = "hearken_file_playback";

/// One file-backed PCM definition.
#[derive(Debug, Clone)]
pub struct FileDevice {
    /// The PCM name to open.
    pub name: String,
    /// Raw S16_LE samples a capture reads (None: playback only, reads silence).
    pub input_raw: Option<PathBuf>,
    /// Where playback writes raw S16_LE samples (`/dev/null` for capture-only devices).
    pub output_raw: PathBuf,
}

impl FileDevice {
    /// This device as an ALSA configuration block.
    pub fn definition(&self) -> String {
        let mut def = format!(
            "pcm.{} {{\n    type file\n    slave.pcm \"null\"\n    file \"{}\"\n    format \"raw\"\n",
            self.name,
            escape(&self.output_raw)
        );
        if let Some(input) = &self.input_raw {
            let _ = writeln!(def, "    infile \"{}\"", escape(input));
        }
        def.push_str("    hint.description \"hearken file-backed device\"\n}\n");
        def
    }
}

fn escape(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// Writes an ALSA configuration file defining `devices`; returns the `ALSA_CONFIG_PATH`
/// value that loads it on top of alsa-lib's own configuration.
pub fn write_config(path: &Path, devices: &[FileDevice]) -> Result<OsString, AudioError> {
    let text: String = devices.iter().map(FileDevice::definition).collect();
    let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
    std::fs::write(path, text).map_err(|source| AudioError::FileDevices { dir, source })?;
    let mut value = OsString::from(ALSA_CONF);
    value.push(":");
    value.push(path);
    Ok(value)
}

/// A capture and a playback PCM backed by raw files, and the configuration that defines
/// them.
#[derive(Debug, Clone)]
pub struct FileDevices {
    /// PCM name reading `input_raw` (silence when no input was given).
    pub capture: String,
    /// PCM name writing `output_raw`.
    pub playback: String,
    /// The generated configuration file.
    pub config_file: PathBuf,
    /// The value `ALSA_CONFIG_PATH` needs.
    pub alsa_config_path: OsString,
    /// Bytes in the capture input file (its length ends the capture stream).
    pub input_bytes: u64,
}

impl FileDevices {
    /// Writes `dir/alsa.conf` defining [`CAPTURE_PCM`] (reading `input_raw`, raw S16_LE)
    /// and [`PLAYBACK_PCM`] (writing `output_raw`). With no input, capture reads an empty
    /// file and ends at once.
    pub fn create(
        dir: &Path,
        input_raw: Option<&Path>,
        output_raw: &Path,
    ) -> Result<FileDevices, AudioError> {
        std::fs::create_dir_all(dir).map_err(|source| AudioError::FileDevices {
            dir: dir.to_owned(),
            source,
        })?;
        let input = match input_raw {
            Some(p) => p.to_owned(),
            None => {
                let empty = dir.join("empty.raw");
                std::fs::write(&empty, b"").map_err(|source| AudioError::FileDevices {
                    dir: dir.to_owned(),
                    source,
                })?;
                empty
            }
        };
        let input_bytes = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
        let config_file = dir.join("alsa.conf");
        let alsa_config_path = write_config(
            &config_file,
            &[
                FileDevice {
                    name: CAPTURE_PCM.into(),
                    input_raw: Some(input),
                    output_raw: "/dev/null".into(),
                },
                FileDevice {
                    name: PLAYBACK_PCM.into(),
                    input_raw: None,
                    output_raw: output_raw.to_owned(),
                },
            ],
        )?;
        Ok(FileDevices {
            capture: CAPTURE_PCM.into(),
            playback: PLAYBACK_PCM.into(),
            config_file,
            alsa_config_path,
            input_bytes,
        })
    }

    /// Capture settings for the file-backed input: the `[audio]` settings with this
    /// device, ending when the input file does (S16_LE frames of `cfg.channels`).
    pub fn capture_settings(&self, cfg: &AudioConfig) -> CaptureSettings {
        let mut settings = CaptureSettings::from_config(cfg);
        settings.device = self.capture.clone();
        settings.end_after_frames = Some(self.input_bytes / (2 * cfg.channels.max(1) as u64));
        settings
    }

    /// Playback settings for the file-backed output.
    pub fn playback_settings(&self, cfg: &AudioConfig) -> PlaybackSettings {
        let mut settings = PlaybackSettings::from_config(cfg);
        settings.device = self.playback.clone();
        settings
    }

    /// Points this process's alsa-lib at the generated configuration. Call it early in
    /// `main` (before other threads start), since it changes the environment; it also
    /// drops alsa-lib's cached configuration so the next open reads the new one.
    pub fn activate(&self) {
        activate(&self.alsa_config_path);
    }
}

/// Sets `ALSA_CONFIG_PATH` for this process and makes alsa-lib reread its configuration.
pub fn activate(alsa_config_path: &std::ffi::OsStr) {
    std::env::set_var("ALSA_CONFIG_PATH", alsa_config_path);
    // libasound is linked through the alsa crate, which does not wrap this call.
    extern "C" {
        fn snd_config_update_free_global() -> std::ffi::c_int;
    }
    // SAFETY: no arguments; alsa-lib frees its cached global configuration under its own lock.
    unsafe {
        snd_config_update_free_global();
    }
}

/// Writes samples as raw S16_LE (what the file plugin reads and writes).
pub fn write_raw(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes)
}

/// Reads raw S16_LE samples.
pub fn read_raw(path: &Path) -> std::io::Result<Vec<i16>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let devs = FileDevices::create(
            dir.path(),
            Some(Path::new("/x/in.raw")),
            Path::new("/y/out.raw"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&devs.config_file).unwrap();
        assert!(text.contains("pcm.hearken_file_capture {"), "{text}");
        assert!(text.contains("infile \"/x/in.raw\""), "{text}");
        assert!(text.contains("file \"/y/out.raw\""), "{text}");
        let path = devs.alsa_config_path.to_string_lossy().into_owned();
        assert!(path.starts_with("/usr/share/alsa/alsa.conf:"), "{path}");
    }
}
