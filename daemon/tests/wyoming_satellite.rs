//! hearken as Home Assistant's Wyoming satellite, with the real `wyoming` package acting
//! as Home Assistant (scripts/wyoming-peer) and the daemon running for real on file-backed
//! ALSA: `info` says it is an installed satellite with its wake word and phrase, pings are
//! answered, unknown events and inline data are tolerated, and a malformed header, a lying
//! `data_length` or an oversized frame close that connection with a log line while the
//! local loop goes on answering. Home Assistant finds it over mDNS (the `zeroconf` package,
//! HA's own) and sees it go when the daemon stops.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::daemon::start_at;
use common::rig::{conversation, Part};
use common::{free_port, llm_url, repo_root, text, wyoming_peer};

#[test]
fn home_assistant_is_answered_and_bad_frames_only_close_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // The question comes once the peer's scenarios are through (about 12 s).
    let input = conversation(&[
        Part::Silence(25.0),
        Part::Say("alexa_capital"),
        Part::Silence(40.0),
    ]);
    let daemon = start_at(
        dir.path(),
        &input,
        None,
        &llm_url(),
        "max_tokens = 32",
        &format!(
            "[wyoming]\nenabled = true\nlisten = \"{address}\"\nname = \"Kitchen speaker\"\n\
             area = \"Kitchen\"\n"
        ),
        &[],
    );
    daemon.wait_for_line("wyoming: satellite \"Kitchen speaker\" listening");

    let described = wyoming_peer("describe", &address, &[]);
    assert_eq!(described["satellite_installed"], true, "{described}");
    let info = &described["info"];
    let satellite = &info["satellite"];
    assert_eq!(satellite["name"], "Kitchen speaker", "{info}");
    assert_eq!(satellite["area"], "Kitchen", "{info}");
    assert_eq!(satellite["supports_trigger"], true, "{info}");
    let model = &info["wake"][0]["models"][0];
    assert_eq!(model["name"], "alexa", "{info}");
    assert_eq!(model["phrase"], "alexa", "{info}");

    // HA pings every 2 s and drops a connection silent for 5 s: every ping is answered.
    let pinged = wyoming_peer("ping", &address, &["4"]);
    assert_eq!(pinged["pongs"], 3, "{pinged}");

    let tolerated = wyoming_peer("tolerated", &address, &[]);
    assert_eq!(tolerated["type"], "pong", "{tolerated}");
    assert_eq!(tolerated["text"], "inline", "{tolerated}");
    daemon.wait_for_log("ignoring a hearken-test-unknown event");

    for (bad, logged) in [
        ("malformed", "malformed header line"),
        ("lying", "did not arrive within 5 s"),
        ("oversized", "payload_length 1073741824 is over the limit"),
    ] {
        let closed = wyoming_peer("bad", &address, &[bad]);
        assert_eq!(closed["closed"], true, "{bad}: {closed}");
        let line = daemon.wait_for_log(logged);
        assert!(line.contains("closing the connection"), "{bad}: {line}");
    }

    // The local loop never noticed: it answers the question after all that.
    let turn = daemon.wait_for_turn(Duration::from_secs(90), |t| {
        t["transcript"].as_str().is_some_and(|s| !s.is_empty())
    });
    let transcript = turn["transcript"].as_str().unwrap().to_lowercase();
    assert!(transcript.contains("capital"), "{turn}");
    assert!(
        turn["reply"].as_str().is_some_and(|r| !r.is_empty()),
        "{turn}"
    );
    // And the satellite still answers after the broken connections.
    let again = wyoming_peer("describe", &address, &[]);
    assert_eq!(again["satellite_installed"], true, "{again}");
}

#[test]
fn home_assistant_discovers_the_satellite_over_mdns_and_sees_it_go() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Unique on the network, so that another run elsewhere is not taken for this one.
    let name = format!("hearken-test-{}-{port}", std::process::id());
    let mut daemon = start_at(
        dir.path(),
        &conversation(&[Part::Silence(60.0)]),
        None,
        &llm_url(),
        "",
        &format!("[wyoming]\nenabled = true\nlisten = \"0.0.0.0:{port}\"\nname = \"{name}\"\n"),
        &[],
    );
    daemon.wait_for_line(&format!(
        "wyoming: advertised over mDNS as {name}._wyoming._tcp.local."
    ));

    let mut peer = Command::new(repo_root().join(".hearken/venv/bin/python"))
        .arg(repo_root().join("scripts/wyoming-peer"))
        .args(["discover", &format!("0.0.0.0:{port}"), &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python (scripts/setup creates it)");
    let mut lines = std::io::BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("wyoming-peer discover: {e}: {line:?}"))
    };

    // Found by browsing, reached at the address and port it advertises: the satellite.
    let found = next();
    assert_eq!(
        found["found"],
        format!("{name}._wyoming._tcp.local."),
        "{found}"
    );
    assert_eq!(found["port"], port, "{found}");
    assert!(
        !found["addresses"].as_array().unwrap().is_empty(),
        "{found}"
    );
    assert_eq!(found["satellite_installed"], true, "{found}");
    assert_eq!(found["info"]["satellite"]["name"], name.as_str(), "{found}");

    // Stopped, it says goodbye: HA drops it at once rather than when the record expires
    // (75 minutes for the service's records).
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log());
    let gone = next();
    let out = peer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(gone["removed"], true, "{gone}");
}
