//! `hearken record`, `play` and `devices` through file-backed ALSA devices (alsa-lib's
//! `file` plugin over `null`), on real speech.

mod common;

use std::path::Path;
use std::process::Output;

use common::{hearken, librivox_wavs, text};
use hearken::audio::filedev::{self, FileDevices};
use hearken::audio::{resample, wav};

fn run_with(devs: &FileDevices, args: &[&str]) -> Output {
    hearken()
        .env("ALSA_CONFIG_PATH", &devs.alsa_config_path)
        .args(args)
        .output()
        .expect("hearken runs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "hearken failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn speech() -> (std::path::PathBuf, Vec<i16>) {
    let path = librivox_wavs().into_iter().next().unwrap();
    let samples = wav::read_16k_i16(&path).unwrap();
    assert!(samples.len() > 16_000, "{}", path.display());
    (path, samples)
}

#[test]
fn record_returns_librivox_speech_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples) = speech();
    let input = dir.path().join("in.raw");
    filedev::write_raw(&input, &samples).unwrap();
    let devs = FileDevices::create(dir.path(), Some(&input), &dir.path().join("out.raw")).unwrap();
    let out_wav = dir.path().join("rec.wav");
    let out = run_with(
        &devs,
        &[
            "record",
            "--device",
            &devs.capture,
            "--seconds",
            "600",
            "--pacing",
            "unpaced",
            "--input-raw",
            input.to_str().unwrap(),
            "--out",
            out_wav.to_str().unwrap(),
        ],
    );
    ok(&out);
    let got = wav::read_16k_i16(&out_wav).unwrap();
    assert_eq!(got.len(), samples.len());
    assert!(got == samples, "recording differs from the input");
}

#[test]
fn record_stops_after_the_requested_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples) = speech();
    let input = dir.path().join("in.raw");
    filedev::write_raw(&input, &samples).unwrap();
    let devs = FileDevices::create(dir.path(), Some(&input), &dir.path().join("out.raw")).unwrap();
    let out_wav = dir.path().join("rec.wav");
    let out = run_with(
        &devs,
        &[
            "record",
            "-d",
            &devs.capture,
            "--seconds",
            "1.5",
            "--pacing",
            "unpaced",
        ]
        .iter()
        .copied()
        .chain(["--out", out_wav.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    ok(&out);
    let got = wav::read_16k_i16(&out_wav).unwrap();
    assert_eq!(got[..], samples[..24_000]);
}

#[test]
fn play_writes_exactly_the_wav_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (path, samples) = speech();
    let output = dir.path().join("out.raw");
    let devs = FileDevices::create(dir.path(), None, &output).unwrap();
    let out = run_with(
        &devs,
        &["play", "--device", &devs.playback, path.to_str().unwrap()],
    );
    ok(&out);
    let got = filedev::read_raw(&output).unwrap();
    assert_eq!(got.len(), samples.len());
    assert!(got == samples, "played samples differ from the WAV");
}

#[test]
fn play_resampled_has_the_right_length_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let (path, samples) = speech();
    let output = dir.path().join("out.raw");
    let devs = FileDevices::create(dir.path(), None, &output).unwrap();
    let out = run_with(
        &devs,
        &[
            "play",
            "-d",
            &devs.playback,
            "--rate",
            "22050",
            path.to_str().unwrap(),
        ],
    );
    ok(&out);
    let got = filedev::read_raw(&output).unwrap();
    let want: Vec<i16> = resample::resample(
        &samples
            .iter()
            .map(|&s| wav::i16_to_f32(s))
            .collect::<Vec<_>>(),
        16_000,
        22_050,
    )
    .unwrap()
    .iter()
    .map(|&s| wav::f32_to_i16(s))
    .collect();
    assert_eq!(got.len(), (samples.len() * 22_050).div_ceil(16_000));
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 3,
        "worst difference {worst} LSB from the reference resampler"
    );
    // And it is speech, not silence.
    let peak = got.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 3000, "peak {peak}");
}

#[test]
fn play_to_stereo_copies_each_sample_to_both_channels() {
    let dir = tempfile::tempdir().unwrap();
    let (path, samples) = speech();
    let output = dir.path().join("out.raw");
    let devs = FileDevices::create(dir.path(), None, &output).unwrap();
    let out = run_with(
        &devs,
        &[
            "play",
            "-d",
            &devs.playback,
            "--channels",
            "2",
            path.to_str().unwrap(),
        ],
    );
    ok(&out);
    let got = filedev::read_raw(&output).unwrap();
    let want: Vec<i16> = samples.iter().flat_map(|&s| [s, s]).collect();
    assert!(got == want, "{} vs {} samples", got.len(), want.len());
}

#[test]
fn devices_marks_file_backed_devices_usable() {
    let dir = tempfile::tempdir().unwrap();
    let devs = FileDevices::create(dir.path(), None, &dir.path().join("out.raw")).unwrap();
    let out = run_with(&devs, &["devices", "--device", &devs.playback]);
    ok(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&devs.playback), "{stdout}");
    assert!(
        stdout.contains("playback  ok    22050 Hz, 1 ch"),
        "{stdout}"
    );
    assert!(
        stdout.contains("capture   ok    16000 Hz, 1 ch"),
        "{stdout}"
    );
}

#[test]
fn unknown_device_error_names_it_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let devs = FileDevices::create(dir.path(), None, &dir.path().join("out.raw")).unwrap();
    let out_wav = dir.path().join("x.wav");
    let out = run_with(
        &devs,
        &[
            "record",
            "-d",
            "no_such_pcm",
            "--seconds",
            "1",
            "--out",
            out_wav.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`no_such_pcm`"), "{stderr}");
    assert!(stderr.contains("hearken devices"), "{stderr}");
    assert!(stderr.contains("audio.capture_device"), "{stderr}");
    assert!(!Path::new(&out_wav).exists());
    let out = run_with(&devs, &["devices", "--device", "no_such_pcm"]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("no_such_pcm"), "{stdout}");
    assert!(stdout.contains("capture   no    cannot open"), "{stdout}");
}

#[test]
fn record_keeps_the_first_channel_of_a_stereo_device() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples) = speech();
    let stereo: Vec<i16> = samples
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| [s, (i as i16).wrapping_mul(7)])
        .collect();
    let input = dir.path().join("in.raw");
    filedev::write_raw(&input, &stereo).unwrap();
    let devs = FileDevices::create(dir.path(), Some(&input), &dir.path().join("out.raw")).unwrap();
    let out_wav = dir.path().join("rec.wav");
    let out = run_with(
        &devs,
        &[
            "record",
            "-d",
            &devs.capture,
            "--channels",
            "2",
            "--seconds",
            "600",
            "--pacing",
            "unpaced",
            "--input-raw",
            input.to_str().unwrap(),
            "--out",
            out_wav.to_str().unwrap(),
        ],
    );
    ok(&out);
    assert!(text(&out.stderr).contains("2 ch"), "{}", text(&out.stderr));
    assert!(wav::read_16k_i16(&out_wav).unwrap() == samples);
}

#[test]
fn record_from_a_48k_device_resamples_to_16k() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples) = speech();
    let to_f32 = |v: &[i16]| v.iter().map(|&s| wav::i16_to_f32(s)).collect::<Vec<f32>>();
    let to_i16 = |v: Vec<f32>| v.into_iter().map(wav::f32_to_i16).collect::<Vec<i16>>();
    let at_48k = to_i16(resample::resample(&to_f32(&samples), 16_000, 48_000).unwrap());
    let want = to_i16(resample::resample(&to_f32(&at_48k), 48_000, 16_000).unwrap());
    let input = dir.path().join("in.raw");
    filedev::write_raw(&input, &at_48k).unwrap();
    let devs = FileDevices::create(dir.path(), Some(&input), &dir.path().join("out.raw")).unwrap();
    let out_wav = dir.path().join("rec.wav");
    let out = run_with(
        &devs,
        &[
            "record",
            "-d",
            &devs.capture,
            "--rate",
            "48000",
            "--seconds",
            "600",
            "--pacing",
            "unpaced",
            "--input-raw",
            input.to_str().unwrap(),
            "--out",
            out_wav.to_str().unwrap(),
        ],
    );
    ok(&out);
    assert!(
        text(&out.stderr).contains("48000 Hz"),
        "{}",
        text(&out.stderr)
    );
    let got = wav::read_16k_i16(&out_wav).unwrap();
    assert_eq!(got.len(), samples.len());
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 3,
        "worst difference {worst} LSB from the reference resampler"
    );
    // Down and up again stays close to the original speech (band-limited at 7.6 kHz).
    let err: f64 = got
        .iter()
        .zip(&samples)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>();
    let energy: f64 = samples.iter().map(|&s| (s as f64).powi(2)).sum();
    assert!(err / energy < 0.01, "relative error {}", err / energy);
}
