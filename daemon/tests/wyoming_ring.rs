//! A timer Home Assistant says went off rings on the device (the wake cue, over and over)
//! until the talk button is pressed (that press starts no turn) or Home Assistant cancels it. The loop runs
//! in-process on the file-backed devices with the satellite served on a local port; the
//! real `wyoming` package plays Home Assistant (scripts/wyoming-peer).

mod common;

use std::time::Duration;

use common::rig::{config, conversation, rig, run_with_setup, Part};
use common::{llm_url, repo_root};
use hearken::audio::filedev;
use hearken::hw::button::{action, apply};
use hearken::hw::{DoublePress, Gesture};
use hearken::pipeline::{self, Cue, Earcons, TurnReport};
use hearken::wyoming;

/// Non-overlapping places where `cue` was played.
fn count(played: &[i16], cue: &[i16]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while at + cue.len() <= played.len() {
        if played[at..at + cue.len()] == *cue {
            n += 1;
            at += cue.len();
        } else {
            at += 1;
        }
    }
    n
}

/// What the speaker played a moment after `stop` ran (5 s after the peer started), what
/// it played 4 s later, and the turns of the run. The peer runs `scenario` as Home
/// Assistant.
fn ring_and_stop(
    scenario: &[&str],
    stop: impl FnOnce(&pipeline::Handle) + Send + 'static,
) -> (usize, usize, Vec<TurnReport>) {
    let rig = rig();
    let config = config(&llm_url());
    let engines = pipeline::build_engines(&config).unwrap();
    let rate = engines.tts.sample_rate();
    let cue = Earcons::load(&config.pipeline.earcons, rate)
        .unwrap()
        .get(Cue::Wake)
        .to_vec();
    let played_raw = rig.input_raw.parent().unwrap().join("out.raw");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let satellite_config = config.clone();
    let (tx, rings) = std::sync::mpsc::channel();
    let (name, args) = (
        scenario[0].to_string(),
        scenario[1..]
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
    );
    let turns = run_with_setup(
        &rig,
        &config,
        engines,
        &conversation(&[Part::Silence(14.0)]),
        move |pipe| {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let link = wyoming::serve_satellite(listener, &satellite_config, &pipe.handle());
            pipe.set_remote(link);
        },
        move |handle| {
            let peer = std::process::Command::new(repo_root().join(".hearken/venv/bin/python"))
                .arg(repo_root().join("scripts/wyoming-peer"))
                .arg(&name)
                .arg(&address)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_secs(5));
            stop(&handle);
            // What the speaker had a moment after the stop, and a while later.
            std::thread::sleep(Duration::from_secs(1));
            let at_stop = filedev::read_raw(&played_raw).unwrap();
            std::thread::sleep(Duration::from_secs(4));
            let later = filedev::read_raw(&played_raw).unwrap();
            let _ = tx.send((at_stop, later));
            let mut peer = peer;
            let _ = peer.wait();
        },
    )
    .expect("the loop ran");
    let (at_stop, later) = rings.recv().unwrap();
    (count(&at_stop, &cue), count(&later, &cue), turns)
}

#[test]
fn a_finished_timer_rings_until_the_button_is_pressed() {
    let (rang, after, turns) = ring_and_stop(&["timer", "8"], |handle| {
        let state = *handle.state().borrow();
        let press = action(Gesture::Press, state, DoublePress::Stop).unwrap();
        apply(press, handle);
    });
    assert!(rang >= 2, "the timer rang {rang} times before the press");
    assert_eq!(after, rang, "it went on ringing after the press");
    assert!(turns.is_empty(), "the press started a turn: {turns:?}");
}

#[test]
fn a_ringing_timer_that_home_assistant_cancels_stops() {
    // HA cancels it 3.5 s after it went off; the stop at 5 s does nothing.
    let (rang, after, turns) = ring_and_stop(&["cancelled_timer", "3.5", "6"], |_| {});
    assert!(
        rang >= 2,
        "the timer rang {rang} times before HA cancelled it"
    );
    assert_eq!(after, rang, "it went on ringing after HA cancelled it");
    assert!(turns.is_empty(), "{turns:?}");
}
