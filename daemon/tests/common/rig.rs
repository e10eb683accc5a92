//! The conversation loop in-process over file-backed ALSA devices, paced like a live
//! microphone: for tests that act on the running loop through `Handle` or wrap an engine.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::{host_port, models_dir, repo_root};
use hearken::audio::{filedev, filedev::FileDevices, wav, Pacing};
use hearken::config::Config;
use hearken::pipeline::{self, Engines, Handle, Options, PipelineError, TurnReport};

/// alsa-lib reads its configuration once per process: every test uses the same
/// file-backed devices, one at a time, rewriting the input before it starts.
pub struct Rig {
    pub devices: FileDevices,
    pub input_raw: PathBuf,
    /// Run as the daemon does: the end of the input is a failure, not the end of the run.
    pub live: std::sync::atomic::AtomicBool,
    _dir: tempfile::TempDir,
}

pub fn rig() -> MutexGuard<'static, Rig> {
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
            live: Default::default(),
            _dir: dir,
        })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

pub enum Part {
    Say(&'static str),
    Silence(f32),
}

pub fn conversation(parts: &[Part]) -> Vec<i16> {
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
pub fn slow_first_answer(upstream: &str, hold: Duration) -> String {
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

/// What [`watched_first_answer`]'s proxy saw.
#[derive(Default)]
pub struct Watch {
    /// Each request as the client sent it (headers and body), in order.
    pub requests: Mutex<Vec<String>>,
    /// Requests whose client hung up while the proxy still held them.
    pub hung_up: AtomicUsize,
}

/// A TCP forwarder to the LLM server that holds the first request for `hold` before
/// passing it on, and records every request and every client that hangs up while held: a
/// request the client cancelled is one the server sees dropped.
pub fn watched_first_answer(upstream: &str, hold: Duration) -> (String, Arc<Watch>) {
    let upstream = host_port(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let watch = Arc::new(Watch::default());
    let seen = Arc::new(AtomicUsize::new(0));
    let w = watch.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
            let (upstream, watch) = (upstream.clone(), w.clone());
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let until = std::time::Instant::now() + if first { hold } else { Duration::ZERO };
                client
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let mut request = Vec::new();
                // The request being held is recorded as soon as it is whole.
                let mut recorded = false;
                let mut buf = [0u8; 4096];
                loop {
                    match client.read(&mut buf) {
                        Ok(0) => {
                            watch.hung_up.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => {
                            watch.hung_up.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                    if let (Some(n), false) = (http_request_len(&request), recorded) {
                        let text = String::from_utf8_lossy(&request[..n]).into_owned();
                        watch.requests.lock().unwrap().push(text);
                        recorded = true;
                    }
                    if recorded && std::time::Instant::now() >= until {
                        break;
                    }
                }
                client.set_read_timeout(None).unwrap();
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    return;
                };
                if server.write_all(&request).is_err() {
                    return;
                }
                pipe(server.try_clone().unwrap(), client.try_clone().unwrap());
                // Client to server, recording each request (a kept-alive connection
                // carries several).
                loop {
                    while let Some(n) = http_request_len(&request) {
                        if !std::mem::take(&mut recorded) {
                            let text = String::from_utf8_lossy(&request[..n]).into_owned();
                            watch.requests.lock().unwrap().push(text);
                        }
                        request.drain(..n);
                    }
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let _ = server.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/v1"), watch)
}

/// The length of the first request in `request` once its headers and whole
/// `Content-Length` body have arrived.
fn http_request_len(request: &[u8]) -> Option<usize> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&request[..end]).to_lowercase();
    let length = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (request.len() >= end + 4 + length).then_some(end + 4 + length)
}

pub fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

pub fn config(llm: &str) -> Config {
    config_with(llm, "", "")
}

/// [`config`] with more `[llm]` keys, and more tables after it (`[turn]`, `[vad]`, ...).
pub fn config_with(llm: &str, llm_keys: &str, tables: &str) -> Config {
    let text = format!(
        "[models]\ndir = \"{}\"\n[llm]\nbase_url = \"{llm}\"\nmax_tokens = 32\n{llm_keys}\n\
         [pipeline]\nfollow_up_ms = 0\n{tables}",
        models_dir().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearken.toml");
    std::fs::write(&path, text).unwrap();
    Config::load_file(&path).unwrap().config
}

/// Runs the loop over `input` at real-time speed; `act` gets the handle as the button and
/// the API would. Fails (rather than hanging) if the loop does not finish.
pub fn run(
    rig: &Rig,
    config: &Config,
    input: &[i16],
    act: impl FnOnce(Handle) + Send + 'static,
) -> Vec<TurnReport> {
    let engines = pipeline::build_engines(config).unwrap();
    let turns = run_with(rig, config, engines, input, act).expect("the loop ran");
    for t in &turns {
        eprintln!("{}", t.summary());
    }
    turns
}

/// [`run`] with the given engines; the loop's own result.
pub fn run_with(
    rig: &Rig,
    config: &Config,
    engines: Engines,
    input: &[i16],
    act: impl FnOnce(Handle) + Send + 'static,
) -> Result<Vec<TurnReport>, PipelineError> {
    run_with_setup(rig, config, engines, input, |_| {}, act)
}

/// [`run_with`], with `setup` given the pipeline first (inside the loop's tokio runtime).
pub fn run_with_setup(
    rig: &Rig,
    config: &Config,
    engines: Engines,
    input: &[i16],
    setup: impl FnOnce(&mut pipeline::Pipeline),
    act: impl FnOnce(Handle) + Send + 'static,
) -> Result<Vec<TurnReport>, PipelineError> {
    let _ = env_logger::builder().is_test(true).try_init();
    filedev::write_raw(&rig.input_raw, input).unwrap();
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
        stop_at_end_of_input: !rig.live.load(Ordering::SeqCst),
        ..pipeline::options(config)
    };
    let mut pipeline = pipeline::Pipeline::new();
    let handle = pipeline.handle();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let _entered = runtime.enter();
        setup(&mut pipeline);
    }
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
    });
    played.map(|p| p.summary.turns)
}
