//! The echo's delay from a recording pair, by GCC-PHAT: the cross-correlation of what was
//! played and what the microphone heard, whitened so that the direct path's peak stands out
//! of speech's strong low frequencies. DESIGN.md: over 4 s windows it found the simulated
//! delay exactly.

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

const WINDOW: usize = 4 * 16_000;

/// The delay (in samples, 0..=`max_lag`) by which `mic` carries the echo of `far`, or None
/// when `far` is silent throughout.
pub fn estimate(far: &[i16], mic: &[i16], max_lag: usize) -> Option<usize> {
    let size = (WINDOW + max_lag).next_power_of_two() * 2;
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let mut sum = vec![0f32; size];
    let mut a = forward.make_input_vec();
    let mut b = forward.make_input_vec();
    let mut fa = forward.make_output_vec();
    let mut fb = forward.make_output_vec();
    let mut corr = inverse.make_output_vec();
    let mut used = 0;
    let mut start = 0;
    while start + WINDOW / 2 < far.len().min(mic.len()) {
        let end = (start + WINDOW).min(far.len());
        let energy: f64 = far[start..end].iter().map(|&s| (s as f64).powi(2)).sum();
        if energy / ((end - start) as f64) > 100.0 {
            a.fill(0.0);
            b.fill(0.0);
            for (d, &s) in a.iter_mut().zip(&far[start..end]) {
                *d = s as f32;
            }
            let mic_end = (start + WINDOW + max_lag).min(mic.len());
            for (d, &s) in b.iter_mut().zip(&mic[start..mic_end]) {
                *d = s as f32;
            }
            forward.process(&mut a, &mut fa).ok()?;
            forward.process(&mut b, &mut fb).ok()?;
            for (x, y) in fa.iter_mut().zip(&fb) {
                let cross = y * x.conj();
                let norm = cross.norm();
                *x = if norm > 1e-9 {
                    cross / norm
                } else {
                    Complex32::new(0.0, 0.0)
                };
            }
            // The real transform's DC and Nyquist bins must be real.
            fa[0].im = 0.0;
            let last = fa.len() - 1;
            fa[last].im = 0.0;
            inverse.process(&mut fa, &mut corr).ok()?;
            for (s, c) in sum.iter_mut().zip(&corr) {
                *s += c;
            }
            used += 1;
        }
        start += WINDOW / 2;
    }
    if used == 0 {
        return None;
    }
    (0..=max_lag.min(size - 1)).max_by(|&i, &j| sum[i].total_cmp(&sum[j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_delay_in_noise_like_audio() {
        let mut state = 7u64;
        let far: Vec<i16> = (0..80_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((state >> 48) as i16) / 4
            })
            .collect();
        let delay = 1234;
        let mut mic = vec![0i16; far.len()];
        for (m, f) in mic[delay..].iter_mut().zip(&far) {
            *m = f / 3;
        }
        assert_eq!(estimate(&far, &mic, 4800), Some(delay));
        assert_eq!(estimate(&[0; 80_000], &mic, 4800), None);
    }
}
