//! `hearken check`: one line per item, non-zero exit if anything is wrong.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use hearken::models::{ModelRef, ModelStore};
use hearken::native;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failures: usize,
}

impl Report {
    fn line(&mut self, status: Status, item: &str, detail: impl std::fmt::Display) {
        let tag = match status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        if status == Status::Fail {
            self.failures += 1;
        }
        println!("{tag}  {item:<40} {detail}");
    }
}

pub fn run(_args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    let mut report = Report { failures: 0 };
    let source = ctx
        .path
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    let status = if ctx.warnings.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    report.line(
        status,
        "config",
        format!("{source} ({} warning(s))", ctx.warnings.len()),
    );

    match native::onnxruntime() {
        Ok(rt) => report.line(
            Status::Ok,
            "native: sherpa-onnx + onnxruntime",
            format!(
                "sherpa-onnx {} with ONNX Runtime {}, loaded once from {}",
                native::sherpa_version(),
                native::sherpa_onnxruntime_version(),
                rt.path.display()
            ),
        ),
        Err(err) => report.line(Status::Fail, "native: onnxruntime", err),
    }

    let store = ModelStore::new(&config.models);
    for model in config.model_refs() {
        let item = format!("model: {model}");
        match &model {
            ModelRef::Bundle(name) => match store.verify_bundle(name) {
                Ok(dir) => report.line(Status::Ok, &item, format!("{} (sha256 ok)", dir.display())),
                Err(err) => report.line(Status::Fail, &item, err),
            },
            ModelRef::Path(path) => match std::fs::File::open(path) {
                Ok(_) => report.line(Status::Ok, &item, "own model, not in the manifest"),
                Err(err) => report.line(Status::Fail, &item, format!("cannot open: {err}")),
            },
        }
    }

    match config.llm.api_key() {
        Ok(key) => {
            let how = if key.is_empty() {
                "no API key (fine for local servers)"
            } else {
                "API key set"
            };
            let (status, detail) = probe(&config.llm.base_url);
            report.line(
                status,
                "llm",
                format!(
                    "{} at {}: {detail}; {how}",
                    config.llm.model, config.llm.base_url
                ),
            );
        }
        Err(err) => report.line(
            Status::Fail,
            "llm: api key file",
            format!("{}: {err}", config.llm.api_key_file.display()),
        ),
    }

    if report.failures == 0 {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} check(s) failed", report.failures);
        Ok(ExitCode::FAILURE)
    }
}

/// Is anything listening at the URL's host and port? A server that is down is a warning,
/// not a failure: the daemon keeps running and apologises until it comes back.
fn probe(url: &str) -> (Status, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if url.starts_with("https") { 443 } else { 80 };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addrs = match target.to_socket_addrs() {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        Err(err) => return (Status::Warn, format!("cannot resolve {target}: {err}")),
    };
    for addr in &addrs {
        if TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok() {
            return (Status::Ok, "reachable".into());
        }
    }
    (
        Status::Warn,
        "not reachable now (start it, e.g. scripts/local-llm start)".into(),
    )
}
