//! `hearken run`: the daemon.

use std::io::Write;
use std::process::ExitCode;

use hearken::pipeline::{self, Options};
use hearken::service::{notify, reload};
use hearken::{api, hw, wyoming};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut pipe = pipeline::Pipeline::new();
    // SIGHUP re-reads the config; handled from now on, so one sent while the models load
    // does not end the process (what it changes in the loop applies as the loop starts).
    {
        let _entered = runtime.enter();
        let reloader =
            reload::Reloader::new(ctx.path.clone(), config.clone()).with_pipeline(pipe.handle());
        runtime.spawn(reload::on_sighup(reloader)?);
    }
    // The board first: a missing GPIO device stops start-up before the models load.
    let board_parts = hw::open(&config.hw).inspect_err(|e| notify::failed(e))?;
    // The API next: a TCP listener without a token stops start-up before the models load,
    // and `hearken status` can tell that they are loading.
    let api = runtime
        .block_on(api::start(config, pipe.handle()))
        .inspect_err(|e| notify::failed(e))?;
    // Under systemd: STATUS= says what loads and the start timeout is extended meanwhile.
    let engines = {
        let _loading = notify::Loading::start("models");
        pipeline::build_engines(config)
    }
    .inspect_err(|e| notify::failed(e))?;
    let source_rate = engines.tts.sample_rate();
    let options = Options {
        hold_while_busy: false,
        stop_at_end_of_input: false,
        ..pipeline::options(config)
    };
    // stdout carries one JSON object per turn; logs go to stderr or journald.
    let on_turn = |report: &pipeline::TurnReport| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report.json_line());
        let _ = out.flush();
    };
    let (capture, playback) = pipeline::live_devices(&config.audio);
    // The LEDs follow the loop's state and the button drives it (`[hw]`).
    // Home Assistant's side: the ports are bound now, so a taken one stops start-up.
    let wyoming = runtime
        .block_on(wyoming::start(config, &pipe.handle()))
        .inspect_err(|e| notify::failed(e))?;
    match wyoming.link.clone() {
        Some(link) if config.wyoming.turns == wyoming::Turns::HomeAssistant => {
            pipe.set_remote(link);
        }
        Some(_) => log::info!("wyoming: every turn is answered here ([wyoming] turns = \"local\")"),
        None => {}
    }
    let board = hw::Hw::start(board_parts, &config.hw, &pipe.handle())?;
    let result = runtime.block_on(pipeline::run_on_devices(
        pipe,
        engines,
        &capture,
        &playback,
        true,
        source_rate,
        options,
        on_turn,
    ));
    // Work still queued on the runtime (a DNS lookup, an LLM request) must not hold up
    // the exit. Home Assistant hears the satellite go (mDNS goodbye).
    drop(api);
    drop(wyoming);
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    board.stop();
    if let Err(e) = &result {
        notify::failed(e);
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
