//! Piper TTS against piper-tts 1.8.0 (fixtures from scripts/reference/speak_fixtures.py).

mod common;

use hearken::models::{ModelStore, ModelsConfig};
use hearken::tts::{PiperVoice, Synthesizer, TtsConfig};

#[derive(serde::Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<Vec<i64>>,
    audio_s: f64,
}

fn reference() -> Reference {
    let path = common::repo_root().join("daemon/tests/fixtures/speak/piper_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn voice() -> PiperVoice {
    let store = ModelStore::new(&ModelsConfig {
        dir: common::models_dir(),
        ..ModelsConfig::default()
    });
    PiperVoice::new(&TtsConfig::default(), &store).expect("voice loads")
}

/// piper-tts 1.8.0 links an unreleased espeak-ng (its master of 2025-03-22), which writes the
/// palatal mark of espeak's `I;` phoneme ("Tokyo" → tˈoʊkɪʲˌoʊ). No released libespeak-ng
/// does: Debian's 1.51 and the 1.52.0 release give tˈoʊkɪˌoʊ (both measured, whichever
/// espeak-ng-data they load). These cases must equal Piper's ids once that one phoneme
/// (ʲ, id 119, and its pad) is removed.
const UNRELEASED_ESPEAK_ONLY: &[&str] = &["What time is it in Tokyo?"];

fn without_palatal(ids: &[Vec<i64>]) -> Vec<Vec<i64>> {
    ids.iter()
        .map(|s| {
            let mut out = Vec::with_capacity(s.len());
            let mut i = 0;
            while i < s.len() {
                if s[i] == 119 && s.get(i + 1) == Some(&0) {
                    i += 2;
                    continue;
                }
                out.push(s[i]);
                i += 1;
            }
            out
        })
        .collect()
}

#[test]
fn phoneme_ids_equal_piper() {
    let voice = voice();
    let mut mismatches = Vec::new();
    for case in reference().cases {
        let ids = voice.phoneme_ids(&case.text).unwrap();
        let expected = if UNRELEASED_ESPEAK_ONLY.contains(&case.text.as_str()) {
            assert_ne!(
                ids, case.ids,
                "{:?} now matches exactly: drop it from UNRELEASED_ESPEAK_ONLY",
                case.text
            );
            without_palatal(&case.ids)
        } else {
            case.ids.clone()
        };
        if ids != expected {
            mismatches.push(format!(
                "{:?}:\n  hearken {ids:?}\n  piper   {:?}",
                case.text, case.ids
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn audio_is_speech_of_piper_length() {
    let mut voice = voice();
    let rate = voice.sample_rate() as f64;
    assert_eq!(rate, 22050.0);
    for case in reference().cases {
        let mut pcm: Vec<i16> = Vec::new();
        let mut pieces = 0;
        voice
            .synthesize(&case.text, &mut |p| {
                pcm.extend_from_slice(p);
                pieces += 1;
                true
            })
            .unwrap();
        let secs = pcm.len() as f64 / rate;
        let rms = (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
        assert!(
            rms > 1000.0,
            "{:?}: RMS {rms:.0} is near silence",
            case.text
        );
        assert!(pieces > 1, "{:?}: PCM came in one piece", case.text);
        let ratio = secs / case.audio_s;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{:?}: {secs:.3} s vs piper-tts {:.3} s",
            case.text,
            case.audio_s
        );
    }
}

#[test]
fn sink_returning_false_stops_synthesis() {
    let mut voice = voice();
    let mut calls = 0;
    voice
        .synthesize("One sentence here. And another one there.", &mut |_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!(calls, 1);
}
