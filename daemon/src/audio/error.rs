//! Audio errors that tell the caller what to do next: retry, reopen, or give up.

use std::path::PathBuf;

/// What a caller (the supervisor, a CLI tool) should do about an [`AudioError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transient: the same call may succeed shortly (device busy, not there yet).
    RetryLater,
    /// The stream broke: close the device and open it again.
    Reopen,
    /// Retrying cannot help: fix the config or the system first.
    GiveUp,
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error(
        "ALSA device `{device}` is busy (another program holds it): stop that program, \
         or share the device through a dsnoop (capture) / dmix (playback) PCM; see hardware-notes.md"
    )]
    Busy { device: String },
    #[error(
        "ALSA device `{device}` does not exist or cannot be opened ({source}): \
         run `hearken devices` to list what is available, then set audio.{key}"
    )]
    NotFound {
        device: String,
        key: &'static str,
        source: alsa::Error,
    },
    #[error(
        "ALSA device `{device}` cannot do {what}: pick a plughw:/plug device so ALSA converts, \
         or change the [audio] settings (`hearken devices` shows what each device accepts)"
    )]
    Unsupported { device: String, what: String },
    #[error("ALSA device `{device}` stopped working ({source}); it will be reopened")]
    Lost { device: String, source: alsa::Error },
    #[error("ALSA device `{device}`: {source}")]
    Other { device: String, source: alsa::Error },
    #[error("audio thread for `{device}` could not start: {source}")]
    Thread {
        device: String,
        source: std::io::Error,
    },
    #[error("file-backed ALSA devices in {dir}: {source}")]
    FileDevices {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Resample(#[from] super::resample::ResampleError),
}

impl AudioError {
    pub fn action(&self) -> Action {
        match self {
            AudioError::Busy { .. } => Action::RetryLater,
            // A USB microphone that is unplugged looks exactly like a wrong name; the daemon
            // keeps retrying (with backoff) and the CLI tools give up at once.
            AudioError::NotFound { .. } => Action::RetryLater,
            AudioError::Lost { .. } | AudioError::Other { .. } => Action::Reopen,
            AudioError::Unsupported { .. }
            | AudioError::Thread { .. }
            | AudioError::FileDevices { .. }
            | AudioError::Resample(_) => Action::GiveUp,
        }
    }

    /// The ALSA device the error is about, when there is one.
    pub fn device(&self) -> Option<&str> {
        match self {
            AudioError::Busy { device }
            | AudioError::NotFound { device, .. }
            | AudioError::Unsupported { device, .. }
            | AudioError::Lost { device, .. }
            | AudioError::Other { device, .. }
            | AudioError::Thread { device, .. } => Some(device),
            AudioError::FileDevices { .. } | AudioError::Resample(_) => None,
        }
    }
}
