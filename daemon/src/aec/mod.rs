//! Echo cancellation against hearken's own playback.
//!
//! The playback thread publishes every period it writes into a [`reference`] ring, stamped
//! with when it reaches the speaker; the capture side lines that up with the microphone
//! ([`align`]) and runs an [`EchoCanceller`] before wake word, VAD and ASR. [`room`]
//! simulates the loudspeaker-to-microphone path for `hearken simulate --echo` and the
//! benchmark; [`measure`] holds the numbers they report.

mod align;
mod config;
pub mod delay;
pub mod measure;
pub mod reference;
pub mod room;
mod speex;

pub use align::{Aligner, AlignerSettings};
pub use config::AecConfig;
pub use speex::Speex;

/// Samples per canceller frame: 10 ms at 16 kHz.
pub const FRAME: usize = 160;

/// How far the reference is kept ahead of the echo it should predict: a filter that starts
/// even one 10 ms step after the real echo collapses (DESIGN.md measured 3–5 dB), one that
/// starts early only spends a few taps.
pub const MARGIN_MS: u32 = 25;

/// Removes the echo of `far` (what the speaker played, aligned so its echo follows it within
/// the filter's tail) from `mic`. Frames are [`FRAME`] samples of 16 kHz mono.
pub trait EchoCanceller: Send {
    fn cancel(&mut self, mic: &[i16], far: &[i16], out: &mut [i16]);
    fn name(&self) -> &'static str;
    /// How many samples the output lags the microphone (a post-filter's overlap-add).
    fn latency(&self) -> usize;
}

/// The configured canceller.
pub fn canceller(cfg: &AecConfig) -> Box<dyn EchoCanceller> {
    Box::new(Speex::new(cfg))
}

/// Cancels a whole recording pair offline (`hearken aec-test`, the benchmark): `far` is what
/// was played, `mic` what was captured, its echo `delay` samples behind `far`. The reference
/// is given [`MARGIN_MS`] early, as the live path does. Returns the output, lined up with
/// `mic` (the canceller's latency taken out), and the time the canceller took.
pub fn cancel_recording(
    canceller: &mut dyn EchoCanceller,
    far: &[i16],
    mic: &[i16],
    delay: usize,
) -> (Vec<i16>, std::time::Duration) {
    let lag = delay as i64 - (MARGIN_MS * crate::audio::SAMPLE_RATE / 1000) as i64;
    let mut out = vec![0i16; mic.len() / FRAME * FRAME];
    let mut reference = vec![0i16; FRAME];
    let mut spent = std::time::Duration::ZERO;
    for (i, (m, o)) in mic
        .chunks_exact(FRAME)
        .zip(out.chunks_exact_mut(FRAME))
        .enumerate()
    {
        for (j, r) in reference.iter_mut().enumerate() {
            let p = (i * FRAME + j) as i64 - lag;
            *r = if p >= 0 {
                far.get(p as usize).copied().unwrap_or(0)
            } else {
                0
            };
        }
        let t = std::time::Instant::now();
        canceller.cancel(m, &reference, o);
        spent += t.elapsed();
    }
    let latency = canceller.latency().min(out.len());
    out.drain(..latency);
    out.resize(out.len() + latency, 0);
    (out, spent)
}
