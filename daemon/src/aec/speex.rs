//! SpeexDSP's echo canceller with its preprocessor linked to it (Debian `libspeexdsp-dev`).
//!
//! Measured here as the best engine for barge-in (DESIGN.md, "Echo cancellation"): the
//! preprocessor's residual-echo suppression keeps the user's voice during double talk far
//! better than AEC3's, which is exactly when a wake word interrupts an answer. It needs the
//! bulk delay removed before it (its filter covers `tail_ms` only); see [`super::align`].

use std::os::raw::{c_int, c_void};
use std::ptr::NonNull;

use super::{AecConfig, EchoCanceller, FRAME};

#[repr(C)]
struct SpeexEchoState {
    _private: [u8; 0],
}
#[repr(C)]
struct SpeexPreprocessState {
    _private: [u8; 0],
}

#[link(name = "speexdsp")]
extern "C" {
    fn speex_echo_state_init(frame_size: c_int, filter_length: c_int) -> *mut SpeexEchoState;
    fn speex_echo_state_destroy(st: *mut SpeexEchoState);
    fn speex_echo_cancellation(
        st: *mut SpeexEchoState,
        rec: *const i16,
        play: *const i16,
        out: *mut i16,
    );
    fn speex_echo_ctl(st: *mut SpeexEchoState, request: c_int, ptr: *mut c_void) -> c_int;
    fn speex_preprocess_state_init(frame_size: c_int, rate: c_int) -> *mut SpeexPreprocessState;
    fn speex_preprocess_state_destroy(st: *mut SpeexPreprocessState);
    fn speex_preprocess_run(st: *mut SpeexPreprocessState, x: *mut i16) -> c_int;
    fn speex_preprocess_ctl(
        st: *mut SpeexPreprocessState,
        request: c_int,
        ptr: *mut c_void,
    ) -> c_int;
}

// speex_echo.h / speex_preprocess.h
const SPEEX_ECHO_SET_SAMPLING_RATE: c_int = 24;
const SPEEX_PREPROCESS_SET_DENOISE: c_int = 0;
const SPEEX_PREPROCESS_SET_AGC: c_int = 2;
const SPEEX_PREPROCESS_SET_ECHO_STATE: c_int = 24;
const SPEEX_PREPROCESS_SET_ECHO_SUPPRESS: c_int = 20;
const SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE: c_int = 22;

/// One echo state and its preprocessor; both freed on drop.
pub struct Speex {
    echo: NonNull<SpeexEchoState>,
    pre: NonNull<SpeexPreprocessState>,
}

// The states are plain heap memory owned by this value; speexdsp keeps no global state.
unsafe impl Send for Speex {}

impl Speex {
    /// A canceller for 16 kHz audio in [`FRAME`]-sample frames.
    pub fn new(cfg: &AecConfig) -> Speex {
        let rate = crate::audio::SAMPLE_RATE as c_int;
        let taps = (cfg.tail_ms as c_int * rate / 1000).max(FRAME as c_int);
        // SAFETY: plain constructors; null (out of memory) is checked below.
        unsafe {
            let echo = NonNull::new(speex_echo_state_init(FRAME as c_int, taps))
                .expect("speex_echo_state_init: out of memory");
            let pre = NonNull::new(speex_preprocess_state_init(FRAME as c_int, rate))
                .expect("speex_preprocess_state_init: out of memory");
            let mut r = rate;
            speex_echo_ctl(echo.as_ptr(), SPEEX_ECHO_SET_SAMPLING_RATE, int(&mut r));
            let mut on: c_int = 1;
            let mut off: c_int = 0;
            speex_preprocess_ctl(pre.as_ptr(), SPEEX_PREPROCESS_SET_DENOISE, int(&mut on));
            speex_preprocess_ctl(pre.as_ptr(), SPEEX_PREPROCESS_SET_AGC, int(&mut off));
            speex_preprocess_ctl(
                pre.as_ptr(),
                SPEEX_PREPROCESS_SET_ECHO_STATE,
                echo.as_ptr() as *mut c_void,
            );
            let mut idle = -(cfg.suppression_db as c_int);
            let mut active = -(cfg.suppression_active_db as c_int);
            speex_preprocess_ctl(
                pre.as_ptr(),
                SPEEX_PREPROCESS_SET_ECHO_SUPPRESS,
                int(&mut idle),
            );
            speex_preprocess_ctl(
                pre.as_ptr(),
                SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE,
                int(&mut active),
            );
            Speex { echo, pre }
        }
    }
}

fn int(v: &mut c_int) -> *mut c_void {
    v as *mut c_int as *mut c_void
}

impl EchoCanceller for Speex {
    fn cancel(&mut self, mic: &[i16], far: &[i16], out: &mut [i16]) {
        assert!(mic.len() == FRAME && far.len() == FRAME && out.len() == FRAME);
        // SAFETY: the states are alive; each buffer holds FRAME samples (asserted above).
        unsafe {
            speex_echo_cancellation(
                self.echo.as_ptr(),
                mic.as_ptr(),
                far.as_ptr(),
                out.as_mut_ptr(),
            );
            speex_preprocess_run(self.pre.as_ptr(), out.as_mut_ptr());
        }
    }

    fn name(&self) -> &'static str {
        "speex"
    }

    fn latency(&self) -> usize {
        // The preprocessor's weighted overlap-add delays its output by one frame (measured:
        // the cross-correlation with the clean near end peaks at 160 samples).
        FRAME
    }
}

impl Drop for Speex {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once; the preprocessor only points at the echo
        // state, so it goes first.
        unsafe {
            speex_preprocess_state_destroy(self.pre.as_ptr());
            speex_echo_state_destroy(self.echo.as_ptr());
        }
    }
}
