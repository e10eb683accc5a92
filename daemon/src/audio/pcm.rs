//! Opening an ALSA PCM with hearken's format and explicit period/buffer sizes.

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

use super::AudioError;

/// What the device actually agreed to.
pub(crate) struct Opened {
    pub pcm: PCM,
    pub rate: u32,
    pub channels: u32,
    pub period_frames: usize,
    pub buffer_frames: usize,
}

/// Which config key names the device (for "set audio.<key>" hints).
fn key(dir: Direction) -> &'static str {
    match dir {
        Direction::Capture => "capture_device",
        Direction::Playback => "playback_device",
    }
}

pub(crate) fn classify(device: &str, dir: Direction, err: alsa::Error) -> AudioError {
    let device = device.to_owned();
    match err.errno() {
        libc::EBUSY | libc::EAGAIN => AudioError::Busy { device },
        libc::ENOENT | libc::ENODEV | libc::ENXIO => AudioError::NotFound {
            device,
            key: key(dir),
            source: err,
        },
        libc::EIO | libc::ESHUTDOWN | libc::EBADFD => AudioError::Lost {
            device,
            source: err,
        },
        _ => AudioError::Other {
            device,
            source: err,
        },
    }
}

/// Opens `device` for S16 interleaved I/O near `rate` Hz and `channels`, with periods of
/// `period_ms` and a buffer of `periods` periods. Non-blocking, so a busy device fails at
/// once instead of hanging the open, and the threads can wait with a timeout (see [`wait`]).
pub(crate) fn open(
    device: &str,
    dir: Direction,
    rate: u32,
    channels: u32,
    period_ms: u32,
    periods: u32,
) -> Result<Opened, AudioError> {
    quiet_alsa_lib();
    let pcm = PCM::new(device, dir, true).map_err(|e| classify(device, dir, e))?;
    let unsupported = |what: String| AudioError::Unsupported {
        device: device.to_owned(),
        what,
    };
    let (rate, channels, period_frames, buffer_frames) = {
        let hw = HwParams::any(&pcm).map_err(|e| classify(device, dir, e))?;
        hw.set_access(Access::RWInterleaved)
            .map_err(|e| unsupported(format!("interleaved read/write access ({e})")))?;
        hw.set_format(Format::s16())
            .map_err(|e| unsupported(format!("16-bit samples ({e})")))?;
        let channels = hw
            .set_channels_near(channels)
            .map_err(|e| unsupported(format!("{channels} channel(s) ({e})")))?;
        let got = hw
            .set_rate_near(rate, ValueOr::Nearest)
            .map_err(|e| unsupported(format!("{rate} Hz ({e})")))?;
        let period = (got as u64 * period_ms as u64 / 1000).max(16) as alsa::pcm::Frames;
        let period = hw
            .set_period_size_near(period, ValueOr::Nearest)
            .map_err(|e| unsupported(format!("{period_ms} ms periods ({e})")))?;
        let buffer = hw
            .set_buffer_size_near(period * periods as alsa::pcm::Frames)
            .map_err(|e| unsupported(format!("a buffer of {periods} periods ({e})")))?;
        pcm.hw_params(&hw)
            .map_err(|e| unsupported(format!("the requested parameters ({e})")))?;
        (got, channels, period as usize, buffer as usize)
    };
    // The threads divide by the rate and step by periods: a device (or plugin) that settles on
    // 0 of either is refused here instead.
    if rate == 0 || channels == 0 || period_frames == 0 {
        return Err(unsupported(format!(
            "a usable format (it settled on {rate} Hz, {channels} channel(s), {period_frames}-frame periods)"
        )));
    }
    if dir == Direction::Playback {
        // Start on the first write: a reply's first sample should sound as soon as it exists.
        let sw = pcm
            .sw_params_current()
            .map_err(|e| classify(device, dir, e))?;
        sw.set_start_threshold(1)
            .and_then(|_| pcm.sw_params(&sw))
            .map_err(|e| classify(device, dir, e))?;
    }
    Ok(Opened {
        pcm,
        rate,
        channels,
        period_frames,
        buffer_frames,
    })
}

/// alsa-lib prints every failed open to stderr itself; hearken reports failures as typed
/// errors and logs them once per state change, so a device being retried with backoff
/// must not spam the journal. alsa-lib's local handler is per thread: silence it for
/// whichever thread opens devices.
fn quiet_alsa_lib() {
    type Handler = unsafe extern "C" fn(
        file: *const std::ffi::c_char,
        line: std::ffi::c_int,
        func: *const std::ffi::c_char,
        err: std::ffi::c_int,
        fmt: *const std::ffi::c_char,
        // A `va_list`, which every Linux ABI hearken targets passes as one pointer-sized value.
        args: *mut std::ffi::c_void,
    );
    unsafe extern "C" fn ignore(
        _file: *const std::ffi::c_char,
        _line: std::ffi::c_int,
        _func: *const std::ffi::c_char,
        _err: std::ffi::c_int,
        _fmt: *const std::ffi::c_char,
        _args: *mut std::ffi::c_void,
    ) {
    }
    extern "C" {
        // libasound is linked through the alsa crate, which does not wrap this call.
        fn snd_lib_error_set_local(handler: Option<Handler>) -> Option<Handler>;
    }
    // SAFETY: installs a handler that ignores its arguments, for the calling thread only.
    unsafe {
        snd_lib_error_set_local(Some(ignore));
    }
}

/// Waits until the device can take or give a period, for at most `timeout`; errors are
/// left for the next read or write to report.
pub(crate) fn wait(pcm: &PCM, timeout: std::time::Duration) {
    let _ = pcm.wait(Some(timeout.as_millis().max(1) as u32));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Action;

    #[test]
    fn errors_say_what_to_do_and_name_the_device() {
        let busy = classify(
            "hw:1,0",
            Direction::Capture,
            alsa::Error::new("snd_pcm_open", libc::EBUSY),
        );
        assert_eq!(busy.action(), Action::RetryLater);
        let msg = busy.to_string();
        assert!(
            msg.contains("`hw:1,0`") && msg.contains("dsnoop") && msg.contains("dmix"),
            "{msg}"
        );

        let gone = classify(
            "plughw:2",
            Direction::Playback,
            alsa::Error::new("snd_pcm_open", libc::ENOENT),
        );
        assert!(gone.to_string().contains("audio.playback_device"), "{gone}");

        let lost = classify(
            "default",
            Direction::Capture,
            alsa::Error::new("snd_pcm_readi", libc::EIO),
        );
        assert_eq!(lost.action(), Action::Reopen);
        assert_eq!(lost.device(), Some("default"));
    }
}
