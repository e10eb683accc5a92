//! Whisper over Silero VAD segments: partial text while the user is still speaking, one final
//! per segment, and a pre-roll wake word removed from the text.

mod common;

use common::*;
use hearken::asr::{self, text::word_errors, AsrConfig, AsrEvent};
use hearken::audio::wav;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::vad::{self, SileroVad, VadConfig};

const RATE: usize = 16_000;
const FRAME: usize = 1280;

fn store() -> ModelStore {
    ModelStore::new(&ModelsConfig {
        dir: models_dir(),
        ..ModelsConfig::default()
    })
}

fn whisper() -> Box<dyn asr::Recognizer> {
    asr::build(&AsrConfig::default(), &VadConfig::default(), &store()).unwrap()
}

#[test]
fn partials_arrive_while_speech_is_still_going_on() {
    let mut audio = wav::read_mono(&librivox_wavs()[0], RATE as u32).unwrap();
    // Where the VAD itself says the speech ends.
    let pcm: Vec<i16> = audio.iter().map(|&s| wav::f32_to_i16(s)).collect();
    let mut silero = SileroVad::new(&VadConfig::default(), &store()).unwrap();
    let segments = vad::segments(&mut silero, &pcm).unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let speech_end = segments[0].1 as usize;
    audio.extend(std::iter::repeat_n(0.0, RATE));

    let mut r = whisper();
    r.begin();
    let (mut partials, mut finals) = (Vec::new(), Vec::new());
    let mut fed = 0;
    for frame in audio.chunks(FRAME) {
        fed += frame.len();
        for event in r.feed(frame).unwrap() {
            match event {
                AsrEvent::Partial(t) => partials.push((fed, t)),
                AsrEvent::Final(t) => finals.push((fed, t)),
            }
        }
    }
    assert_eq!(finals.len(), 1, "{finals:?}");
    let (final_at, text) = &finals[0];
    assert!(*final_at > speech_end, "final before the speech ended");
    let during: Vec<_> = partials
        .iter()
        .filter(|(at, _)| *at < speech_end - RATE)
        .collect();
    // How many partials fit depends on how fast this machine decodes (the recognizer waits
    // twice the last decode time between them); two, growing, prove they stream.
    assert!(during.len() >= 2, "partials during speech: {partials:?}");
    // Partials grow with the speech: the last one has more words than the first.
    let words = |t: &str| t.split_whitespace().count();
    assert!(
        words(&during.last().unwrap().1) > words(&during[0].1),
        "{partials:?}"
    );
    let truth = "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them";
    let (errors, n) = word_errors(truth, text);
    println!(
        "final {text:?}: {errors}/{n} word errors; {} partials",
        partials.len()
    );
    assert!(errors <= 1, "{text}");
    assert!(r.finish().unwrap().is_empty());
}

#[test]
fn two_utterances_give_two_finals_and_finish_closes_an_open_segment() {
    let a = wav::read_mono(&librivox_wavs()[1], RATE as u32).unwrap();
    let b = wav::read_mono(&librivox_wavs()[4], RATE as u32).unwrap();
    let mut audio = a.clone();
    audio.extend(std::iter::repeat_n(0.0, RATE));
    audio.extend(&b);
    let mut r = whisper();
    r.begin();
    let mut finals = Vec::new();
    for frame in audio.chunks(FRAME) {
        for event in r.feed(frame).unwrap() {
            if let AsrEvent::Final(t) = event {
                finals.push(t);
            }
        }
    }
    // The second utterance is still open at the end of input: finish() decodes it.
    finals.push(r.finish().unwrap());
    assert_eq!(finals.len(), 2, "{finals:?}");
    assert!(
        word_errors("he was not an ill disposed young man", &finals[0]).0 <= 2,
        "{finals:?}"
    );
    assert!(
        word_errors("he might even have been made amiable himself", &finals[1]).0 <= 1,
        "{finals:?}"
    );
}

#[test]
fn preroll_wake_word_is_stripped_from_the_final_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmd.wav");
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&path)
        .arg("Alexa, what is the weather like today?")
        .status()
        .expect("espeak-ng runs (scripts/setup installs it)");
    assert!(status.success());
    let mut audio = wav::read_mono(&path, RATE as u32).unwrap();
    audio.extend(std::iter::repeat_n(0.0, RATE));
    // The wake word ends about 0.6 s in: hand everything before 0.8 s in as pre-roll.
    let (preroll, live) = audio.split_at(RATE * 8 / 10);
    let mut r = whisper();
    let mut finals = Vec::new();
    for event in r.begin_with_preroll(preroll).unwrap() {
        if let AsrEvent::Final(t) = event {
            finals.push(t);
        }
    }
    for frame in live.chunks(FRAME) {
        for event in r.feed(frame).unwrap() {
            if let AsrEvent::Final(t) = event {
                finals.push(t);
            }
        }
    }
    finals.push(r.finish().unwrap());
    let text = finals.join(" ");
    assert!(text.to_lowercase().starts_with("alexa"), "{text}");
    let command = hearken::wake::WakeWordName::from_config("alexa").strip(&text);
    println!("{text:?} -> {command:?}");
    assert!(command.starts_with("What"), "{command}");
    assert!(!command.to_lowercase().contains("alexa"), "{command}");
}
