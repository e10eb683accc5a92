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
}
