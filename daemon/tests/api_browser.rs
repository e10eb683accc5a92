//! The talk page in a real browser: Debian's chromium, driven through chromedriver, opens
//! the page on the daemon's token-protected TCP listener, its fake microphone playing a
//! recorded question; pressing Talk must show the transcript and the answer and play the
//! answer's audio, and hands-free mode must answer again without a press and then listen
//! by itself. The screenshots are left in the test's output directory.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::start_at;
use common::llm_url;
use fantoccini::{Client, ClientBuilder, Locator};
use hearken::audio::wav;

const TOKEN: &str = "browser-test-token-77";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a port of its own, ended with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver(port: u16) -> Driver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are missing: scripts/setup installs chromium and chromium-driver"
    );
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver(child)
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("api_browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls `css`'s text until `ok` holds; returns it.
async fn wait_text(c: &Client, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        let t = text_of(c, css).await;
        if ok(&t) {
            return t;
        }
        if Instant::now() > deadline {
            let shot = c.screenshot().await.unwrap_or_default();
            let _ = std::fs::write(output_dir().join("failed.png"), shot);
            let page = text_of(c, "body").await;
            panic!("{css} is {t:?} after {within:?}; the page:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_talk_page_answers_a_spoken_question() {
    let out = output_dir();
    let dir = tempfile::tempdir().unwrap();
    // The fake microphone loops its file: the question, then a pause that ends it.
    let mut question =
        wav::read_16k_i16(&common::repo_root().join("daemon/tests/fixtures/loop/germany.wav"))
            .unwrap();
    question.extend(std::iter::repeat_n(0i16, 16_000 * 4));
    let question_wav = out.join("question.wav");
    wav::write_i16(&question_wav, 16_000, 1, &question).unwrap();

    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = start_at(
        dir.path(),
        &vec![0; 16_000 * 300],
        None,
        &llm_url(),
        "max_tokens = 48",
        &format!("listen = \"{listen}\"\ntoken_env = \"HEARKEN_BROWSER_TEST_TOKEN\""),
        &[("HEARKEN_BROWSER_TEST_TOKEN", TOKEN)],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "no listener:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    let port = free_port();
    let _driver = chromedriver(port);
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--autoplay-policy=no-user-gesture-required".into(),
        "--use-fake-ui-for-media-stream".into(),
        "--use-fake-device-for-media-stream".into(),
        format!(
            "--use-file-for-fake-audio-capture={}",
            question_wav.display()
        ),
        format!("--user-data-dir={}", profile.path().display()),
        "--window-size=800,1000".into(),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    let c = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");

    let result = async {
        c.goto(&format!("http://{listen}/?token={TOKEN}"))
            .await
            .unwrap();
        // The event stream is connected: the device's state shows.
        wait_text(&c, "#state", Duration::from_secs(30), |t| t == "idle").await;
        c.find(Locator::Css("#voice"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let transcript = wait_text(&c, "#transcript", Duration::from_secs(60), |t| {
            !t.is_empty()
        })
        .await;
        wait_text(&c, "#voice-state", Duration::from_secs(120), |t| {
            t == "done"
        })
        .await;
        let answer = text_of(&c, "#answer").await;
        let received: u64 = text_of(&c, "#audio-received").await.parse().unwrap();
        let shot = c.screenshot().await.unwrap();
        std::fs::write(out.join("talk_page.png"), &shot).unwrap();
        eprintln!(
            "heard {transcript:?}, answered {answer:?}, {received} samples; screenshot {}",
            out.join("talk_page.png").display()
        );
        wait_text(&c, "#answers", Duration::from_secs(5), |t| t == "1").await;

        // Hands-free: one tick, and the page answers the looping question, then listens
        // for the next one by itself.
        c.find(Locator::Css("#hands-free"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(&c, "#answers", Duration::from_secs(180), |t| t == "2").await;
        let hands_free = text_of(&c, "#answer").await;
        wait_text(&c, "#voice-state", Duration::from_secs(30), |t| {
            t == "listening"
        })
        .await;
        let shot = c.screenshot().await.unwrap();
        std::fs::write(out.join("hands_free.png"), &shot).unwrap();
        eprintln!("hands-free answered {hands_free:?} and listens again");
        (transcript, answer, received)
    }
    .await;
    c.close().await.unwrap();
    let (transcript, answer, received) = result;
    assert!(
        transcript.to_lowercase().contains("germany"),
        "{transcript}"
    );
    assert!(!answer.trim().is_empty());
    assert!(
        received > 16_000,
        "{received} samples of the answer reached the page"
    );
    assert!(!daemon.log().contains(TOKEN), "the token is in the log");
}
