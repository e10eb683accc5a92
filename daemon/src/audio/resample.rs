//! Sample-rate conversion for whole buffers (files, synthesized speech).
//!
//! A direct windowed-sinc interpolator: every output sample is computed at its exact
//! input-time position, so there is no filter delay to compensate and the output has
//! `round(len * to / from)` samples, aligned with the input.

#[derive(Debug, thiserror::Error)]
#[error("cannot resample {from} Hz to {to} Hz: rates must be non-zero")]
pub struct ResampleError {
    from: u32,
    to: u32,
}

/// Taps on each side of the interpolation point.
const HALF_TAPS: i64 = 32;

/// Converts `input` from `from` Hz to `to` Hz with a band-limited (Blackman-windowed sinc)
/// filter whose cutoff sits just below the lower of the two Nyquist frequencies.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if from == 0 || to == 0 {
        return Err(ResampleError { from, to });
    }
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let step = from as f64 / to as f64;
    // Downsampling widens the kernel in input samples by the same factor it lowers cutoff.
    let cutoff = 0.95 * (to as f64 / from as f64).min(1.0);
    let half_width = (HALF_TAPS as f64 / cutoff).ceil() as i64;
    let out_len = (input.len() as f64 / step).round() as usize;
    let last = input.len() as i64 - 1;
    let output = (0..out_len)
        .map(|n| {
            let t = n as f64 * step;
            let centre = t.floor() as i64;
            let mut acc = 0.0f64;
            let mut norm = 0.0f64;
            for k in (centre - half_width + 1)..=(centre + half_width) {
                let x = t - k as f64;
                let w = kernel(x, cutoff, half_width as f64);
                norm += w;
                if (0..=last).contains(&k) {
                    acc += w * input[k as usize] as f64;
                }
            }
            (acc / norm) as f32
        })
        .collect();
    Ok(output)
}

fn kernel(x: f64, cutoff: f64, half_width: f64) -> f64 {
    use std::f64::consts::PI;
    let sinc = if x.abs() < 1e-9 {
        1.0
    } else {
        (PI * cutoff * x).sin() / (PI * cutoff * x)
    };
    let r = (x / half_width).clamp(-1.0, 1.0);
    let window = 0.42 + 0.5 * (PI * r).cos() + 0.08 * (2.0 * PI * r).cos();
    sinc * window
}

/// Streaming conversion for the audio threads: the same windowed-sinc filter as
/// [`resample`], with one precomputed kernel row per fractional input position, and every
/// buffer allocated in [`StreamResampler::new`] so converting allocates nothing.
pub struct StreamResampler {
    from: u64,
    to: u64,
    half_width: i64,
    phases: u64,
    /// `phases` rows of `2 * half_width` normalised taps.
    table: Vec<f32>,
    /// Input history; `hist[0]` is input sample number `base` (negative = leading zeros).
    hist: Vec<f32>,
    base: i64,
    /// Input samples fed so far, and output samples produced.
    fed: i64,
    produced: u64,
    max_chunk: usize,
}

/// Kernel rows are kept per distinct fractional position, at most this many.
const MAX_PHASES: u64 = 1024;

impl StreamResampler {
    /// A converter from `from` Hz to `to` Hz taking at most `max_chunk` input samples a call.
    pub fn new(from: u32, to: u32, max_chunk: usize) -> Result<Self, ResampleError> {
        if from == 0 || to == 0 {
            return Err(ResampleError { from, to });
        }
        let cutoff = 0.95 * (to as f64 / from as f64).min(1.0);
        let half_width = (HALF_TAPS as f64 / cutoff).ceil() as i64;
        let g = gcd(from as u64, to as u64);
        let phases = (to as u64 / g).min(MAX_PHASES);
        let taps = 2 * half_width as usize;
        let mut table = Vec::with_capacity(phases as usize * taps);
        for p in 0..phases {
            let frac = p as f64 / phases as f64;
            let row: Vec<f64> = (0..taps)
                .map(|j| {
                    kernel(
                        frac + (half_width - 1 - j as i64) as f64,
                        cutoff,
                        half_width as f64,
                    )
                })
                .collect();
            let norm: f64 = row.iter().sum();
            table.extend(row.iter().map(|w| (w / norm) as f32));
        }
        let mut s = StreamResampler {
            from: from as u64,
            to: to as u64,
            half_width,
            phases,
            table,
            hist: Vec::with_capacity(max_chunk + 4 * half_width as usize + 4),
            base: 0,
            fed: 0,
            produced: 0,
            max_chunk,
        };
        s.reset();
        Ok(s)
    }

    /// Forgets all input: the next sample starts a new stream.
    pub fn reset(&mut self) {
        self.hist.clear();
        self.hist
            .extend(std::iter::repeat_n(0.0, self.half_width as usize));
        self.base = -self.half_width;
        self.fed = 0;
        self.produced = 0;
    }

    /// True when input was fed since the last reset (so [`finish`](Self::finish) has a tail).
    pub fn pending(&self) -> bool {
        self.fed > 0
    }

    /// Most output samples one call can produce from `input_len` samples.
    pub fn max_output(&self, input_len: usize) -> usize {
        ((input_len as u64 + 2 * self.half_width as u64) * self.to / self.from) as usize + 2
    }

    /// Feeds `input` (at most `max_chunk` samples) and writes the output samples that are
    /// now fully determined into `out`, returning how many.
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        debug_assert!(input.len() <= self.max_chunk);
        self.hist.extend(input.iter().map(|&s| s as f32));
        self.fed += input.len() as i64;
        self.produce(out, self.fed)
    }

    /// Ends the stream: pads with silence and writes the remaining output, so the whole
    /// stream has `round(fed * to / from)` samples. Then resets.
    pub fn finish(&mut self, out: &mut [i16]) -> usize {
        let total = ((self.fed as u64 * self.to * 2 + self.from) / (2 * self.from)) as usize;
        let remaining = total.saturating_sub(self.produced as usize);
        let mut n = 0;
        while n < remaining.min(out.len()) {
            let pad = (self.max_chunk).min(self.half_width as usize * 2);
            self.hist.extend(std::iter::repeat_n(0.0, pad));
            self.fed += pad as i64;
            let want = remaining - n;
            n += self.produce_upto(&mut out[n..], self.fed, want);
        }
        self.reset();
        n
    }

    fn produce(&mut self, out: &mut [i16], available: i64) -> usize {
        self.produce_upto(out, available, usize::MAX)
    }

    fn produce_upto(&mut self, out: &mut [i16], available: i64, limit: usize) -> usize {
        let hw = self.half_width;
        let taps = 2 * hw as usize;
        let mut n = 0;
        while n < out.len() && n < limit {
            let pos = self.produced * self.from;
            let mut centre = (pos / self.to) as i64;
            let mut phase = ((pos % self.to) * self.phases * 2 + self.to) / (2 * self.to);
            if phase == self.phases {
                phase = 0;
                centre += 1;
            }
            if centre + hw >= available {
                break;
            }
            let start = (centre - hw + 1 - self.base) as usize;
            let row = &self.table[phase as usize * taps..(phase as usize + 1) * taps];
            let acc = dot(row, &self.hist[start..start + taps]);
            out[n] = acc.round().clamp(-32768.0, 32767.0) as i16;
            n += 1;
            self.produced += 1;
        }
        // Keep only what the next output can still reach.
        let next_centre = (self.produced * self.from / self.to) as i64;
        let keep_from = (next_centre - hw).max(self.base);
        let drop = (keep_from - self.base) as usize;
        if drop > 0 {
            self.hist.drain(..drop);
            self.base = keep_from;
        }
        n
    }
}

/// Dot product with eight independent partial sums, which the compiler turns into SIMD
/// (a single running f32 sum must be added in order and stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, f: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn length_follows_ratio() {
        let input = vec![0.0f32; 22_050];
        assert_eq!(resample(&input, 22_050, 16_000).unwrap().len(), 16_000);
        assert_eq!(resample(&input, 22_050, 48_000).unwrap().len(), 48_000);
    }

    #[test]
    fn tone_keeps_phase_and_amplitude() {
        for (from, to) in [(22_050, 16_000), (16_000, 48_000), (44_100, 16_000)] {
            let out = resample(&tone(from, 300.0, from as usize), from, to).unwrap();
            let want = tone(to, 300.0, to as usize);
            for i in (1000..(to as usize - 1000)).step_by(97) {
                assert!(
                    (out[i] - want[i]).abs() < 0.005,
                    "{from}->{to} sample {i}: {} vs {}",
                    out[i],
                    want[i]
                );
            }
        }
    }

    #[test]
    fn content_above_new_nyquist_is_removed() {
        let out = resample(&tone(48_000, 12_000.0, 48_000), 48_000, 16_000).unwrap();
        let peak = out[1000..15_000].iter().fold(0f32, |m, &s| m.max(s.abs()));
        assert!(peak < 0.01, "aliased peak {peak}");
    }

    #[test]
    fn streaming_matches_batch() {
        for (from, to, len) in [
            (16_000, 22_050, 113_600),
            (22_050, 16_000, 11_025),
            (48_000, 16_000, 24_000),
        ] {
            let input: Vec<i16> = tone(from, 440.0, len)
                .iter()
                .map(|&s| (s * 12_000.0) as i16)
                .collect();
            let batch: Vec<f32> = resample(
                &input.iter().map(|&s| s as f32).collect::<Vec<_>>(),
                from,
                to,
            )
            .unwrap();
            let mut stream = StreamResampler::new(from, to, 320).unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0i16; stream.max_output(320)];
            // Uneven chunks, as the playback thread takes whatever the ring holds.
            let mut rest = &input[..];
            let mut size = 1;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                let n = stream.process(chunk, &mut buf);
                out.extend_from_slice(&buf[..n]);
                rest = tail;
                size = size * 7 % 320 + 1;
            }
            let mut tail = vec![0i16; stream.max_output(320) * 4];
            let n = stream.finish(&mut tail);
            out.extend_from_slice(&tail[..n]);
            assert_eq!(out.len(), batch.len(), "{from}->{to}");
            for (i, (a, b)) in out.iter().zip(&batch).enumerate() {
                assert!(
                    (*a as f32 - b).abs() <= 2.0,
                    "{from}->{to} sample {i}: {a} vs {b}"
                );
            }
        }
    }
}
