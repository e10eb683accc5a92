//! WAV files in and out, converted to what the engines want.

use std::path::{Path, PathBuf};

use super::resample;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot read WAV {path}: {source}")]
    Read { path: PathBuf, source: hound::Error },
    #[error("cannot write WAV {path}: {source}")]
    Write { path: PathBuf, source: hound::Error },
    #[error("WAV {path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// Sample rates a WAV file may have: telephone-band lows to the highest converters.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Audio as read from a file: interleaved samples scaled to [-1, 1].
#[derive(Debug, Clone)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

impl Audio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.channels.max(1) as f64 / self.sample_rate as f64
    }

    /// Averages channels into one.
    pub fn to_mono(&self) -> Vec<f32> {
        let ch = self.channels.max(1) as usize;
        if ch == 1 {
            return self.samples.clone();
        }
        self.samples
            .chunks_exact(ch)
            .map(|frame| frame.iter().sum::<f32>() / ch as f32)
            .collect()
    }

    /// Mono at `rate` Hz.
    pub fn mono_at(&self, rate: u32) -> Result<Vec<f32>, resample::ResampleError> {
        resample::resample(&self.to_mono(), self.sample_rate, rate)
    }
}

pub fn read(path: &Path) -> Result<Audio, WavError> {
    let file = std::fs::File::open(path).map_err(|e| WavError::Read {
        path: path.to_owned(),
        source: hound::Error::IoError(e),
    })?;
    read_from(std::io::BufReader::new(file), path)
}

/// Reads WAV data from `source`; `path` only labels messages.
pub fn read_from(source: impl std::io::Read, path: &Path) -> Result<Audio, WavError> {
    let reader = hound::WavReader::new(source).map_err(|source| WavError::Read {
        path: path.to_owned(),
        source,
    })?;
    let spec = reader.spec();
    if spec.sample_rate == 0 || spec.channels == 0 {
        return Err(WavError::Format {
            path: path.to_owned(),
            message: format!(
                "its header says {} Hz and {} channel(s); neither may be 0",
                spec.sample_rate, spec.channels
            ),
        });
    }
    // A header's rate is trusted by the resampler: 1 Hz would make 16 000 outputs of every
    // sample and hang start-up on a corrupt earcon.
    if !RATES.contains(&spec.sample_rate) {
        return Err(WavError::Format {
            path: path.to_owned(),
            message: format!(
                "its header says {} Hz; recordings are {} to {} Hz",
                spec.sample_rate,
                RATES.start(),
                RATES.end()
            ),
        });
    }
    let read_err = |source| WavError::Read {
        path: path.to_owned(),
        source,
    };
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            let samples: Vec<f32> = reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(read_err)?;
            // NaN or infinity is no sound; downstream it would silence or poison whole
            // filter windows (resampler, features) instead of one sample.
            if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
                return Err(WavError::Format {
                    path: path.to_owned(),
                    message: format!("sample {i} is {}, not a level", samples[i]),
                });
            }
            samples
        }
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(read_err)?
        }
        (format, bits) => {
            return Err(WavError::Format {
                path: path.to_owned(),
                message: format!("unsupported sample format {format:?} with {bits} bits"),
            })
        }
    };
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    })
}

/// Reads any WAV as mono f32 at `rate` Hz.
pub fn read_mono(path: &Path, rate: u32) -> Result<Vec<f32>, WavError> {
    read(path)?.mono_at(rate).map_err(|e| WavError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads any WAV as 16 kHz mono i16, the format of hearken's capture path.
pub fn read_16k_i16(path: &Path) -> Result<Vec<i16>, WavError> {
    Ok(read_mono(path, super::SAMPLE_RATE)?
        .iter()
        .map(|&s| f32_to_i16(s))
        .collect())
}

pub fn write_i16(path: &Path, rate: u32, channels: u16, samples: &[i16]) -> Result<(), WavError> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write_err = |source| WavError::Write {
        path: path.to_owned(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    for &s in samples {
        writer.write_sample(s).map_err(write_err)?;
    }
    writer.finalize().map_err(write_err)
}

pub fn f32_to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

pub fn i16_to_f32(s: i16) -> f32 {
    s as f32 / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i16_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let samples: Vec<i16> = (0..1600)
            .map(|i| ((i * 37) % 65536 - 32768) as i16)
            .collect();
        write_i16(&path, 16_000, 1, &samples).unwrap();
        assert_eq!(read_16k_i16(&path).unwrap(), samples);
    }

    /// Found by fuzzing: a float WAV holding NaN was read as if it were sound.
    #[test]
    fn a_float_sample_that_is_not_a_number_is_refused() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for s in [0.0, 0.5, f32::NAN, f32::INFINITY] {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
        let err = read_from(&bytes.into_inner()[..], Path::new("nan.wav")).unwrap_err();
        assert_eq!(err.to_string(), "WAV nan.wav: sample 2 is NaN, not a level");
    }

    /// Found by fuzzing (the WAV target ran at 34 inputs a second): an 11 Hz header made
    /// reading 200 frames take 30 ms, and a 1 Hz one would hang for minutes.
    #[test]
    fn an_absurd_sample_rate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.wav");
        write_i16(&path, 1, 1, &[0; 8000]).unwrap();
        let err = read_mono(&path, 16_000).unwrap_err().to_string();
        assert!(
            err.ends_with("slow.wav: its header says 1 Hz; recordings are 1000 to 768000 Hz"),
            "{err}"
        );
    }

    #[test]
    fn stereo_44k_becomes_16k_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let frames = 44_100;
        let tone: Vec<i16> = (0..frames)
            .flat_map(|i| {
                let v = f32_to_i16(
                    0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin(),
                );
                [v, v]
            })
            .collect();
        write_i16(&path, 44_100, 2, &tone).unwrap();
        let out = read_mono(&path, 16_000).unwrap();
        assert!((out.len() as i64 - 16_000).abs() <= 16, "{}", out.len());
        let peak = out[2000..14000].iter().fold(0f32, |m, &s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "{peak}");
    }
}
