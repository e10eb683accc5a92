//! Speculation: at the user's pause the final decode runs and the answer starts before the
//! turn is confirmed. These drive the real loop in-process (file-backed ALSA, paced like a
//! live microphone, real models, the real llama.cpp server behind a proxy that sees what
//! the client sends and when it hangs up).
//!
//! `alexa_capital_of.wav` ("Alexa, what is the capital of") and `france.wav` ("France?") in
//! fixtures/loop are `hearken say` renders of the Piper voice (en_US-joe-medium), resampled
//! to 16 kHz and trimmed with `sox ... silence 1 0.01 0.1% reverse silence 1 0.01 0.1%
//! reverse`: the pause between them is exactly the silence the test puts there.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::llm_url;
use common::rig::{config_with, conversation, rig, run, watched_first_answer, Part};
use hearken::pipeline::TurnReport;

/// The silence that ends a turn in these tests, and the pause inside the question: longer
/// than `[turn] pause_ms`, shorter than the endpoint, and long enough for the decode at the
/// pause to finish and the speculative request to reach the server before the user goes
/// on, on a busy 2-core machine (the decode runs on the listener thread).
const ENDPOINT: &str = "[vad]\nmin_silence_ms = 3500\n";
const PAUSE_S: f32 = 2.0;

fn speculating(on: bool) -> String {
    format!("{ENDPOINT}[turn]\nmode = \"silence\"\npause_ms = 200\nspeculate = {on}\n")
}

fn answered(t: &TurnReport) {
    assert!(!t.interrupted && !t.fallback && t.error.is_none(), "{t:?}");
    assert!(!t.reply.trim().is_empty(), "{t:?}");
    assert!(t.timeline.first_sample_written_ms.is_some(), "{t:?}");
}

/// The user messages of a chat request as the proxy saw it.
fn user_messages(request: &str) -> Vec<String> {
    let body = &request[request.find("\r\n\r\n").expect("a request body") + 4..];
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_resumed_question_cancels_the_speculative_request_and_is_asked_whole() {
    let rig = rig();
    // The speculative request is held at the proxy: the user goes on before any of its
    // answer exists, and the client must hang up on it.
    let (url, watch) = watched_first_answer(&llm_url(), Duration::from_secs(6));
    let config = config_with(&url, "temperature = 0.0", &speculating(true));
    let input = conversation(&[
        Part::Silence(0.5),
        Part::Say("alexa_capital_of"),
        Part::Silence(PAUSE_S),
        Part::Say("france"),
        // Time for the answer, on a busy machine, before the next question.
        Part::Silence(14.0),
        Part::Say("alexa_sum"),
        Part::Silence(8.0),
    ]);
    let turns = run(&rig, &config, &input, |_| {});
    let requests = watch.requests.lock().unwrap().clone();
    let asked: Vec<Vec<String>> = requests.iter().map(|r| user_messages(r)).collect();
    eprintln!("asked: {asked:?}");
    assert_eq!(
        watch.hung_up.load(Ordering::SeqCst),
        1,
        "the speculative request was dropped by the client"
    );
    assert_eq!(turns.len(), 2, "{turns:?}");
    let t = &turns[0];
    answered(t);
    let heard = t.transcript.to_lowercase();
    assert!(
        heard.contains("capital") && heard.contains("france"),
        "{t:?}"
    );
    assert_eq!(t.speculations_discarded, 1, "{t:?}");
    // The whole question may itself have been speculated on at its final pause.
    assert!(["used", "discarded"].contains(&t.speculation), "{t:?}");
    answered(&turns[1]);

    assert!(asked.len() >= 3, "{asked:?}");
    let first = asked[0].join(" ").to_lowercase();
    assert!(
        first.contains("capital") && !first.contains("france"),
        "{asked:?}"
    );
    // The next question goes with one remembered exchange: the whole first question.
    let last = asked.last().unwrap();
    assert_eq!(last.len(), 2, "{asked:?}");
    assert_eq!(last[0], t.transcript, "{asked:?}");
    assert!(
        last[1].contains('2') || last[1].contains("two"),
        "{asked:?}"
    );
}

#[test]
fn a_confirmed_speculation_plays_what_an_unspeculated_turn_plays() {
    let rig = rig();
    let url = llm_url();
    let input = conversation(&[Part::Say("alexa_capital"), Part::Silence(4.0)]);
    let mut heard = Vec::new();
    for on in [false, true] {
        let config = config_with(&url, "temperature = 0.0", &speculating(on));
        let turns = run(&rig, &config, &input, |_| {});
        assert_eq!(turns.len(), 1, "{turns:?}");
        answered(&turns[0]);
        heard.push(turns.into_iter().next().unwrap());
    }
    let (plain, speculated) = (&heard[0], &heard[1]);
    assert_eq!(plain.speculation, "none", "{plain:?}");
    assert_eq!(speculated.speculation, "used", "{speculated:?}");
    // The answer was asked for before the turn was confirmed, and it is the same answer.
    let tl = &speculated.timeline;
    assert!(
        tl.llm_request_ms.unwrap() < tl.endpoint_ms.unwrap(),
        "{tl:?}"
    );
    assert_eq!(plain.transcript, speculated.transcript);
    assert_eq!(plain.reply, speculated.reply);
}
