//! Debug recordings: each captured turn saved as a WAV, with a bound on count and size.
//! Nothing saves turns yet (the listener owns turn audio), so there is no config key for it;
//! the `audio.debug_recordings_*` keys come back when the listener calls this.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::wav::{self, WavError};
use super::SAMPLE_RATE;

#[derive(Debug, thiserror::Error)]
pub enum DebugRecError {
    #[error("debug recordings directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Wav(#[from] WavError),
}

/// Saves turns into a directory, deleting the oldest recordings beyond the bounds.
#[derive(Debug, Clone)]
pub struct DebugRecorder {
    dir: PathBuf,
    max_count: usize,
    max_bytes: u64,
}

impl DebugRecorder {
    pub fn new(dir: &Path, max_count: usize, max_bytes: u64) -> DebugRecorder {
        DebugRecorder {
            dir: dir.to_owned(),
            max_count,
            max_bytes,
        }
    }

    /// Writes `samples` (16 kHz mono) as `turn-<unix ms>-<label>.wav`, then prunes.
    /// Not for the audio threads: it allocates and does file I/O.
    pub fn save(&self, label: &str, samples: &[i16]) -> Result<PathBuf, DebugRecError> {
        let dir_err = |source| DebugRecError::Dir {
            dir: self.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(dir_err)?;
        let ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut path = self.dir.join(format!("turn-{ms:013}-{label}.wav"));
        let mut n = 1;
        while path.exists() {
            path = self.dir.join(format!("turn-{ms:013}-{label}-{n}.wav"));
            n += 1;
        }
        wav::write_i16(&path, SAMPLE_RATE, 1, samples)?;
        self.prune().map_err(dir_err)?;
        Ok(path)
    }

    /// Deletes the oldest recordings (by name, which starts with the time) until both
    /// bounds hold.
    fn prune(&self) -> std::io::Result<()> {
        let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("turn-") && name.ends_with(".wav")
            })
            .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|(_, len)| len).sum();
        let mut count = files.len();
        for (path, len) in files {
            if count <= self.max_count && total <= self.max_bytes {
                break;
            }
            std::fs::remove_file(&path)?;
            count -= 1;
            total -= len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_count_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let rec = DebugRecorder::new(dir.path(), 3, 1_000_000);
        let mut saved = Vec::new();
        for i in 0..5 {
            saved.push(rec.save("t", &vec![i as i16; 1600]).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut left: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        left.sort();
        assert_eq!(left, saved[2..].to_vec());

        // 1600 samples ≈ 3244 bytes each: a 7000-byte bound keeps two.
        let rec = DebugRecorder::new(dir.path(), 10, 7_000);
        let newest = rec.save("t", &[1; 1600]).unwrap();
        let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&newest));
    }
}
