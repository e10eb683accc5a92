//! `hearken hw test`: for a person wiring a board. Cycles the LEDs through every state's
//! pattern and prints each gesture the button makes, until Ctrl-C.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hearken::hw::{self, Animator};
use hearken::pipeline::State;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: HwCommand,
}

#[derive(clap::Subcommand)]
enum HwCommand {
    /// Cycle the LEDs through every state's pattern and print each button press, long
    /// press and double press, until Ctrl-C
    Test {
        /// Seconds each state's pattern shows
        #[arg(long, default_value_t = 3.0)]
        seconds: f32,
        /// Stop after this many seconds instead of at Ctrl-C
        #[arg(long)]
        duration: Option<f32>,
    },
}

const STATES: [State; 7] = [
    State::Idle,
    State::Listening,
    State::Thinking,
    State::Speaking,
    State::FollowUp,
    State::Muted,
    State::Error,
];

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let HwCommand::Test { seconds, duration } = args.command;
    let per_state = Duration::try_from_secs_f32(seconds)
        .map_err(|_| anyhow::anyhow!("--seconds {seconds}: not a duration"))?;
    let config = &ctx.config.hw;
    let parts = hw::open(config)?;
    if parts.leds.is_none() && parts.button.is_none() {
        anyhow::bail!(
            "hw.backend = \"{}\" gives no LEDs and no button here: set hw.backend and the \
             [hw.gpio] / [hw.apa102] keys (see hardware-notes.md)",
            format!("{:?}", config.backend).to_lowercase()
        );
    }
    println!(
        "LEDs: {}; button: {}. Ctrl-C to stop.",
        if parts.leds.is_some() {
            "cycling every state's pattern"
        } else {
            "none"
        },
        if parts.button.is_some() {
            "press it"
        } else {
            "none"
        }
    );
    let (state_tx, state_rx) = tokio::sync::watch::channel(State::Idle);
    let animator = parts
        .leds
        .map(|leds| {
            Animator::spawn(leds, config.leds.clone(), state_rx, |exit| {
                if exit.panic.is_some() {
                    log::error!("{exit}");
                }
            })
        })
        .transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let button = parts.button.map(|b| {
        let (stop, cfg) = (stop.clone(), config.button.clone());
        std::thread::spawn(move || {
            hw::button::drive(b, &cfg, None, &stop, |g, _, _| println!("button: {g:?}"))
        })
    });

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let cycle = async {
            for state in STATES.iter().cycle() {
                let (name, _) = config.leds.pattern(*state, Duration::ZERO);
                println!("state {state:?}: pattern {name}");
                let _ = state_tx.send(*state);
                tokio::time::sleep(per_state).await;
            }
        };
        let limit = async {
            match duration.and_then(|d| Duration::try_from_secs_f32(d).ok()) {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cycle => {}
            _ = limit => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = button {
        if let Ok(Err(e)) = t.join() {
            log::error!("the button failed: {e}");
        }
    }
    if let Some(a) = animator {
        a.stop();
    }
    println!("LEDs off.");
    Ok(ExitCode::SUCCESS)
}
