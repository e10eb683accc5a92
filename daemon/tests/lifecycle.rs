//! Every turn ends, whatever the user does while hearken is still thinking. These drive the
//! real loop in-process (`Pipeline::run` over file-backed ALSA devices, paced like a live
//! microphone, with the real models and the real llama.cpp server behind a proxy that
//! holds the first answer back), and act through `Handle` as the button and the API do.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::llm_url;
use common::rig::{config, conversation, rig, run, slow_first_answer, Part};
use hearken::pipeline::{Handle, Notice, State, TurnReport};

/// Blocks until the loop enters `state`.
fn wait_for(handle: &Handle, state: State) {
    let mut rx = handle.state();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| *s == state))
            .await
            .unwrap_or_else(|_| panic!("never entered {state:?}"))
            .unwrap();
    });
}

fn cut_off_while_thinking(t: &TurnReport) {
    assert!(t.interrupted, "{t:?}");
    assert_eq!(t.reply, "", "nothing of it was played: {t:?}");
    assert!(t.timeline.llm_request_ms.is_some(), "{t:?}");
    assert!(t.timeline.first_sample_written_ms.is_none(), "{t:?}");
}

fn answered(t: &TurnReport) {
    assert!(!t.interrupted && !t.fallback, "{t:?}");
    assert!(t.error.is_none(), "{t:?}");
    assert!(!t.reply.trim().is_empty(), "{t:?}");
    assert!(t.timeline.first_sample_written_ms.is_some(), "{t:?}");
}

fn asks_two_plus_two(t: &TurnReport) -> bool {
    let s = t.transcript.to_lowercase().replace(' ', "");
    s.contains("2+2") || s.contains("twoplustwo") || s.contains("2plus2")
}

#[test]
fn wake_word_while_thinking_is_answered() {
    let rig = rig();
    let config = config(&slow_first_answer(&llm_url(), Duration::from_secs(8)));
    // The second wake word comes 3 s after the first question, while its answer is held.
    let input = conversation(&[
        Part::Say("alexa_capital"),
        Part::Silence(3.0),
        Part::Say("alexa_sum"),
        Part::Silence(4.0),
    ]);
    let turns = run(&rig, &config, &input, |_| {});
    assert_eq!(turns.len(), 2, "{turns:#?}");
    cut_off_while_thinking(&turns[0]);
    assert!(turns[0].transcript.to_lowercase().contains("france"));
    answered(&turns[1]);
    assert!(asks_two_plus_two(&turns[1]), "{:?}", turns[1]);
}

#[test]
fn button_while_thinking_is_answered() {
    let rig = rig();
    let config = config(&slow_first_answer(&llm_url(), Duration::from_secs(8)));
    // The user presses the button while hearken thinks, then asks without a wake word.
    let input = conversation(&[
        Part::Say("alexa_capital"),
        Part::Silence(3.5),
        Part::Say("germany"),
        Part::Silence(4.0),
    ]);
    let turns = run(&rig, &config, &input, |h| {
        wait_for(&h, State::Thinking);
        h.push_to_talk();
    });
    assert_eq!(turns.len(), 2, "{turns:#?}");
    cut_off_while_thinking(&turns[0]);
    assert_eq!(turns[1].trigger, "button");
    answered(&turns[1]);
    assert!(
        turns[1].transcript.to_lowercase().contains("germany"),
        "{:?}",
        turns[1]
    );
}

#[test]
fn mute_while_thinking_then_unmute_is_answered() {
    let rig = rig();
    let config = config(&slow_first_answer(&llm_url(), Duration::from_secs(8)));
    let input = conversation(&[
        Part::Say("alexa_capital"),
        Part::Silence(4.0),
        Part::Say("alexa_sum"),
        Part::Silence(4.0),
    ]);
    // Every state announced, as its notice goes out, is the state the handle reports: a
    // client reading `/v1/state` on an event never reads the state before it.
    let announced = Arc::new(Mutex::new(Vec::new()));
    let seen = announced.clone();
    let turns = run(&rig, &config, &input, move |h| {
        let reported = h.state();
        h.observe(move |n| {
            if let Notice::State { state } = n {
                seen.lock().unwrap().push((*state, *reported.borrow()));
            }
        });
        wait_for(&h, State::Thinking);
        h.mute(true);
        wait_for(&h, State::Muted);
        h.mute(false);
    });
    assert_eq!(turns.len(), 2, "{turns:#?}");
    cut_off_while_thinking(&turns[0]);
    answered(&turns[1]);
    assert!(asks_two_plus_two(&turns[1]), "{:?}", turns[1]);
    let announced = announced.lock().unwrap();
    for state in [State::Muted, State::Listening, State::Speaking, State::Idle] {
        assert!(
            announced.iter().any(|(s, _)| *s == state),
            "{state:?} not announced: {announced:?}"
        );
    }
    for (state, reported) in announced.iter() {
        assert_eq!(
            state, reported,
            "announced before it was set: {announced:?}"
        );
    }
}
