//! Every turn ends, whatever the user does while hearken is still thinking. These drive the
//! real loop in-process (`Pipeline::run` over file-backed ALSA devices, paced like a live
//! microphone, with the real models and the real llama.cpp server behind a proxy that
//! holds the first answer back), and act through `Handle` as the button and the API do.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use common::{host_port, llm_url, models_dir, repo_root};
use hearken::audio::{filedev, filedev::FileDevices, wav, Pacing};
use hearken::config::Config;
use hearken::pipeline::{self, Handle, Options, State, TurnReport};

/// alsa-lib reads its configuration once per process: every test uses the same
/// file-backed devices, one at a time, rewriting the input before it starts.
struct Rig {
    devices: FileDevices,
    input_raw: PathBuf,
    _dir: tempfile::TempDir,
}

fn rig() -> MutexGuard<'static, Rig> {
    static RIG: OnceLock<Mutex<Rig>> = OnceLock::new();
    RIG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let input_raw = dir.path().join("input.raw");
        filedev::write_raw(&input_raw, &[]).unwrap();
        let devices =
            FileDevices::create(dir.path(), Some(&input_raw), &dir.path().join("out.raw")).unwrap();
        devices.activate();
        Mutex::new(Rig {
            devices,
            input_raw,
            _dir: dir,
        })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

enum Part {
    Say(&'static str),
    Silence(f32),
}

fn conversation(parts: &[Part]) -> Vec<i16> {
    let mut samples = Vec::new();
    for part in parts {
        match part {
            Part::Say(name) => {
                let path = repo_root().join(format!("daemon/tests/fixtures/loop/{name}.wav"));
                samples.extend(wav::read_16k_i16(&path).unwrap());
            }
            Part::Silence(s) => samples.extend(std::iter::repeat_n(0i16, (s * 16_000.0) as usize)),
        }
    }
    samples
}

/// A TCP forwarder to the LLM server that holds the first request for `hold` before
/// passing it on: a server busy with someone else's prompt.
fn slow_first_answer(upstream: &str, hold: Duration) -> String {
    let upstream = host_port(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                if first {
                    std::thread::sleep(hold);
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            });
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn config(llm: &str) -> Config {
    let text = format!(
        "[models]\ndir = \"{}\"\n[llm]\nbase_url = \"{llm}\"\nmax_tokens = 32\n\
         [pipeline]\nfollow_up_ms = 0\n",
        models_dir().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearken.toml");
    std::fs::write(&path, text).unwrap();
    Config::load_file(&path).unwrap().config
}

/// Runs the loop over `input` at real-time speed; `act` gets the handle as the button and
/// the API would. Fails (rather than hanging) if the loop does not finish.
fn run(
    rig: &Rig,
    config: &Config,
    input: &[i16],
    act: impl FnOnce(Handle) + Send + 'static,
) -> Vec<TurnReport> {
    let _ = env_logger::builder().is_test(true).try_init();
    filedev::write_raw(&rig.input_raw, input).unwrap();
    let engines = pipeline::build_engines(config).unwrap();
    let rate = engines.tts.sample_rate();
    let mut capture = rig.devices.capture_settings(&config.audio);
    capture.retry_open = false;
    capture.pacing = Pacing::Realtime;
    capture.end_after_frames = Some(input.len() as u64);
    let mut playback = rig.devices.playback_settings(&config.audio);
    playback.retry_open = false;
    playback.paced = true;
    let options = Options {
        hold_while_busy: false,
        stop_at_end_of_input: true,
        ..pipeline::options(config)
    };
    let pipeline = pipeline::Pipeline::new();
    let handle = pipeline.handle();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let played = runtime.block_on(async move {
        std::thread::spawn(move || act(handle));
        let run = pipeline::run_on_devices(
            pipeline,
            engines,
            &capture,
            &playback,
            false,
            rate,
            options,
            |_| {},
        );
        tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("the loop wedged: still running 120 s after it started")
            .expect("the loop ran")
    });
    for t in &played.summary.turns {
        eprintln!("{}", t.summary());
    }
    played.summary.turns
}

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
    let turns = run(&rig, &config, &input, |h| {
        wait_for(&h, State::Thinking);
        h.mute(true);
        wait_for(&h, State::Muted);
        h.mute(false);
    });
    assert_eq!(turns.len(), 2, "{turns:#?}");
    cut_off_while_thinking(&turns[0]);
    answered(&turns[1]);
    assert!(asks_two_plus_two(&turns[1]), "{:?}", turns[1]);
}
