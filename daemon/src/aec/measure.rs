//! The numbers the benchmark and `hearken aec-test --json` report, over 10 ms frames.

use super::FRAME;

fn energy(s: &[i16]) -> f64 {
    s.iter().map(|&x| (x as f64).powi(2)).sum()
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.max(1e-12).log10()
}

/// Frames whose energy is above `floor_dbfs` (mean square against full scale).
fn active(s: &[i16], i: usize, floor_dbfs: f64) -> bool {
    let f = &s[(i * FRAME).min(s.len())..((i + 1) * FRAME).min(s.len())];
    !f.is_empty() && db(energy(f) / f.len() as f64 / (32768.0f64 * 32768.0)) > floor_dbfs
}

/// What the canceller did to one recording.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Report {
    /// Echo return loss enhancement: microphone against output energy over the frames where
    /// only the far end is heard, after `skip_s` of convergence from the first echo (None
    /// without such frames).
    pub erle_db: Option<f64>,
    pub far_only_frames: usize,
    /// During double talk: the output's energy against the clean near end's (0 = kept; needs
    /// the clean near end).
    pub near_kept_db: Option<f64>,
    /// During double talk: the clean near end against what the output differs from it by.
    pub near_sdr_db: Option<f64>,
    pub double_talk_frames: usize,
}

/// `echo` is what the far end put into the microphone (mic − near, when known; otherwise
/// the microphone itself); `near` the clean near end, if known. The canceller only starts
/// learning at the first echo, so the `skip_s` of convergence count from there: a recording
/// whose far end starts late (an answer after the question) is not measured unconverged.
pub fn report(mic: &[i16], out: &[i16], echo: &[i16], near: Option<&[i16]>, skip_s: f64) -> Report {
    let len = mic
        .len()
        .min(out.len())
        .min(echo.len())
        .min(near.map_or(usize::MAX, <[i16]>::len));
    let frames = len / FRAME;
    let first_echo = (0..frames)
        .find(|&i| active(echo, i, -55.0))
        .unwrap_or(frames);
    let skip = first_echo + (skip_s * 100.0) as usize;
    let (mut far_mic, mut far_out, mut far_n) = (0.0, 0.0, 0);
    let (mut dt_near, mut dt_out, mut dt_err, mut dt_n) = (0.0, 0.0, 0.0, 0);
    for i in skip..frames {
        let r = i * FRAME..(i + 1) * FRAME;
        let echo_on = active(echo, i, -55.0);
        let near_on = near.is_some_and(|n| active(n, i, -50.0));
        let near_quiet = near.is_none_or(|n| !active(n, i, -65.0));
        if echo_on && near_quiet {
            far_mic += energy(&mic[r.clone()]);
            far_out += energy(&out[r.clone()]);
            far_n += 1;
        }
        if let (true, true, Some(n)) = (echo_on, near_on, near) {
            dt_near += energy(&n[r.clone()]);
            dt_out += energy(&out[r.clone()]);
            dt_err += out[r.clone()]
                .iter()
                .zip(&n[r])
                .map(|(&o, &s)| (o as f64 - s as f64).powi(2))
                .sum::<f64>();
            dt_n += 1;
        }
    }
    Report {
        erle_db: (far_n > 0).then(|| db(far_mic / far_out.max(1.0))),
        far_only_frames: far_n,
        near_kept_db: (dt_n > 0).then(|| db(dt_out / dt_near)),
        near_sdr_db: (dt_n > 0).then(|| db(dt_near / dt_err.max(1.0))),
        double_talk_frames: dt_n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence_is_skipped_from_the_first_echo() {
        // 3 s of silence, then an echo the canceller leaves alone for 1 s and takes 20 dB
        // off after: measured from the start, the untouched second would count.
        let rate = 16_000;
        let echo: Vec<i16> = (0..8 * rate)
            .map(|i| {
                if i < 3 * rate {
                    0
                } else {
                    [3000, -3000][i % 2]
                }
            })
            .collect();
        let out: Vec<i16> = echo
            .iter()
            .enumerate()
            .map(|(i, &e)| if i < 4 * rate { e } else { e / 10 })
            .collect();
        let r = report(&echo, &out, &echo, None, 2.0);
        assert_eq!(r.far_only_frames, 300, "{r:?}");
        assert!((r.erle_db.unwrap() - 20.0).abs() < 0.1, "{r:?}");
    }
}
