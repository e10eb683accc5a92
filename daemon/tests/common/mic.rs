//! A microphone the test speaks into: a FIFO as the file-backed capture's input, kept fed
//! with silence, and a fixture phrase whenever the test asks. The capture's real-time reads
//! pace the writes; the pipe holds about 2 s, so a phrase is heard about 2 s after it is
//! asked for.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use super::rig::{conversation, Part};
use hearken::audio::wav;

pub struct Mic {
    say: std::sync::mpsc::Sender<Vec<i16>>,
}

impl Mic {
    /// The writer waits for the daemon to open the FIFO; it ends when the daemon closes it
    /// (the write fails) or the test drops the `Mic`.
    pub fn fifo(path: &Path) -> Mic {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in the test's own temporary directory.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (say, said) = std::sync::mpsc::channel::<Vec<i16>>();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&path) else {
                return;
            };
            let bytes = |audio: Vec<i16>| -> Vec<u8> {
                audio.iter().flat_map(|s| s.to_le_bytes()).collect()
            };
            let silence = bytes(conversation(&[Part::Silence(0.1)]));
            loop {
                let chunk = match said.try_recv() {
                    Ok(audio) => bytes(audio),
                    Err(std::sync::mpsc::TryRecvError::Empty) => silence.clone(),
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                };
                if pipe.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        Mic { say }
    }

    /// Plays a fixture (a path under daemon/tests/fixtures).
    pub fn say(&self, fixture: &str) {
        let path = super::repo_root()
            .join("daemon/tests/fixtures")
            .join(fixture);
        self.say.send(wav::read_16k_i16(&path).unwrap()).unwrap();
    }
}
