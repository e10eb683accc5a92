//! Whisper log-mel features as Smart Turn v3 takes them, computed the way pipecat's
//! `_whisper_features.py` (vendored from transformers' `WhisperFeatureExtractor`) does:
//! the last 8 s of 16 kHz audio, zero-padded at the front, normalised to zero mean and unit
//! variance, a centred (reflect-padded) 400-point periodic-Hann STFT every 160 samples in
//! f64, an 80-band Slaney mel filterbank, log10 floored at 1e-10, the last frame dropped,
//! clamped to 8 decades below the maximum and scaled to `(x + 4) / 4`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: usize = 16_000;
/// 8 s: what the model sees; older audio is dropped, shorter audio padded at the front.
pub const WINDOW_SAMPLES: usize = 8 * SAMPLE_RATE;
pub const N_MELS: usize = 80;
/// Frames per window: 128000 / 160 + 1 centred frames, the last one dropped.
pub const N_FRAMES: usize = WINDOW_SAMPLES / HOP;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
const NORM_EPS: f32 = 1e-7;

/// One triangular filter: its weights over the FFT bins `first..first + weights.len()`
/// (the rest are zero, so only these are multiplied).
struct Filter {
    first: usize,
    weights: Vec<f64>,
}

/// The precomputed window, filterbank and FFT plan, and the buffers one call reuses.
pub struct LogMel {
    window: Vec<f64>,
    filters: Vec<Filter>,
    fft: Arc<dyn RealToComplex<f64>>,
    audio: Vec<f32>,
    padded: Vec<f64>,
    frame: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    log_mel: Vec<f64>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    pub fn new() -> LogMel {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        LogMel {
            window: periodic_hann(N_FFT),
            filters: mel_filters(),
            fft,
            audio: vec![0.0; WINDOW_SAMPLES],
            padded: vec![0.0; WINDOW_SAMPLES + N_FFT],
            frame: vec![0.0; N_FFT],
            spectrum,
            scratch,
            power: vec![0.0; N_BINS],
            log_mel: vec![0.0; N_MELS * N_FRAMES],
        }
    }

    /// Features of the last [`WINDOW_SAMPLES`] of `speech` (16 kHz), written into `out` as
    /// `[N_MELS][N_FRAMES]`, row-major (the model's `input_features` without the batch axis).
    pub fn compute(&mut self, speech: &[i16], out: &mut [f32]) {
        assert_eq!(out.len(), N_MELS * N_FRAMES, "feature buffer size");
        let tail = &speech[speech.len().saturating_sub(WINDOW_SAMPLES)..];
        let pad = WINDOW_SAMPLES - tail.len();
        self.audio[..pad].fill(0.0);
        for (a, &s) in self.audio[pad..].iter_mut().zip(tail) {
            *a = s as f32 / 32768.0;
        }
        self.normalise();

        // Centred frames: numpy's "reflect" padding (the edge sample is not repeated).
        let half = N_FFT / 2;
        let n = WINDOW_SAMPLES;
        for i in 0..half {
            self.padded[i] = self.audio[half - i] as f64;
            self.padded[half + n + i] = self.audio[n - 2 - i] as f64;
        }
        for (p, &a) in self.padded[half..half + n].iter_mut().zip(&self.audio) {
            *p = a as f64;
        }

        let mut max = f64::NEG_INFINITY;
        for t in 0..N_FRAMES {
            let start = t * HOP;
            for ((f, &x), &w) in self
                .frame
                .iter_mut()
                .zip(&self.padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *f = x * w;
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .expect("buffers sized by the plan");
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let energy: f64 = filter
                    .weights
                    .iter()
                    .zip(&self.power[filter.first..])
                    .map(|(w, p)| w * p)
                    .sum();
                let value = energy.max(MEL_FLOOR).log10();
                max = max.max(value);
                self.log_mel[m * N_FRAMES + t] = value;
            }
        }
        let floor = max - 8.0;
        for (o, &v) in out.iter_mut().zip(&self.log_mel) {
            *o = ((v.max(floor) + 4.0) / 4.0) as f32;
        }
    }

    /// Zero mean, unit variance over the whole (padded) window, in f32 as the reference does.
    fn normalise(&mut self) {
        let n = self.audio.len() as f64;
        let mean = self.audio.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = self
            .audio
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let (mean, scale) = (mean as f32, ((var as f32) + NORM_EPS).sqrt());
        for x in &mut self.audio {
            *x = (*x - mean) / scale;
        }
    }
}

/// numpy's `hanning(n + 1)[:-1]` (torch's periodic `hann_window(n)`).
fn periodic_hann(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= 1000.0 {
        15.0 + (hz / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// The Slaney-normalised triangular filterbank from 0 Hz to Nyquist, as
/// `_build_mel_filterbank` builds it, kept as each filter's non-zero span.
fn mel_filters() -> Vec<Filter> {
    let (mel_min, mel_max) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let nyquist = (SAMPLE_RATE / 2) as f64;
    let bins: Vec<f64> = (0..N_BINS)
        .map(|k| nyquist * k as f64 / (N_BINS - 1) as f64)
        .collect();
    (0..N_MELS)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let enorm = 2.0 / (hi - lo);
            let weights: Vec<f64> = bins
                .iter()
                .map(|&f| {
                    let down = (f - lo) / (mid - lo);
                    let up = (hi - f) / (hi - mid);
                    0f64.max(down.min(up)) * enorm
                })
                .collect();
            let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(first);
            Filter {
                first,
                weights: weights[first..=last].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_triangles_covering_the_spectrum() {
        let filters = mel_filters();
        assert_eq!(filters.len(), N_MELS);
        for pair in filters.windows(2) {
            assert!(pair[0].first <= pair[1].first);
        }
        let last = filters.last().unwrap();
        assert!(last.first + last.weights.len() <= N_BINS);
        assert!(filters.iter().all(|f| !f.weights.is_empty()));
    }

    #[test]
    fn silence_gives_the_floor_everywhere() {
        let mut mel = LogMel::new();
        let mut out = vec![0.0; N_MELS * N_FRAMES];
        mel.compute(&[0; 16_000], &mut out);
        // All-zero audio: every band at the 1e-10 floor, log10 = -10, so (-10 + 4) / 4.
        assert!(
            out.iter().all(|&v| (v - -1.5).abs() < 1e-6),
            "{:?}",
            &out[..4]
        );
    }
}
