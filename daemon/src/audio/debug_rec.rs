//! Debug recordings (`audio.debug_recordings_dir`): the audio each turn's recognizer got,
//! saved as a WAV named for the time, the turn and what was heard, the oldest deleted beyond
//! a count and a size. Written by a thread of its own, so a slow or full disk never holds up
//! the listener; a failed write leaves no partial file, says so once and stops recording,
//! while the conversation goes on.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender, TrySendError};
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

    /// Writes `samples` (16 kHz mono) as `turn-<unix ms>-<label>.wav`, first deleting the
    /// oldest recordings so that the bounds hold with it. A write that fails (a full disk)
    /// removes what it wrote. Not for the audio threads: it allocates and does file I/O.
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
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut path = self.dir.join(format!("turn-{ms:013}-{label}.wav"));
        let mut n = 1;
        while path.exists() {
            path = self.dir.join(format!("turn-{ms:013}-{label}-{n}.wav"));
            n += 1;
        }
        let bytes = WAV_HEADER_BYTES + 2 * samples.len() as u64;
        self.prune(bytes).map_err(dir_err)?;
        if let Err(e) = wav::write_i16(&path, SAMPLE_RATE, 1, samples) {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        Ok(path)
    }

    /// Deletes the oldest recordings (by name, which starts with the time) until both
    /// bounds would hold with one more of `adding` bytes.
    fn prune(&self, adding: u64) -> std::io::Result<()> {
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
        let mut total: u64 = files.iter().map(|(_, len)| len).sum::<u64>() + adding;
        let mut count = files.len() + 1;
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

    /// Starts the writer thread; recordings offered to the [`Recordings`] it returns are
    /// saved in order.
    pub fn spawn(self) -> std::io::Result<Recordings> {
        let (tx, rx) = mpsc::sync_channel::<(String, Vec<i16>)>(QUEUED);
        std::thread::Builder::new()
            .name("recordings".into())
            .spawn(move || {
                for (label, samples) in rx {
                    match self.save(&label, &samples) {
                        Ok(path) => log::debug!("recorded {}", path.display()),
                        Err(e) => {
                            log::warn!(
                                "debug recordings stopped: {e}; the conversation goes on \
                                 (free space in {} and restart hearken to record again)",
                                self.dir.display()
                            );
                            return;
                        }
                    }
                }
            })?;
        Ok(Recordings { tx: Some(tx) })
    }
}

/// A RIFF/WAVE header as hound writes it for 16-bit PCM.
const WAV_HEADER_BYTES: u64 = 44;
/// Recordings waiting for the writer; past this a turn goes unrecorded rather than wait.
const QUEUED: usize = 4;

/// The listener's end of the writer thread.
#[derive(Debug)]
pub struct Recordings {
    tx: Option<SyncSender<(String, Vec<i16>)>>,
}

impl Recordings {
    /// Hands a turn's audio to the writer without waiting for it.
    pub fn offer(&mut self, label: String, samples: Vec<i16>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send((label, samples)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::debug!("the recorder is behind; a turn unrecorded"),
            // The writer gave up (and said why).
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
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
