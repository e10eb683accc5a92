//! Command-line interface: one subcommand per file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use hearken::config::{Config, Loaded};
use hearken::service::logging;

mod aec_test;
mod ask;
mod check;
mod devices;
mod hw;
mod play;
mod record;
mod run;
mod say;
mod simulate;
mod speaker;
mod status;
mod transcribe;
mod turn_eval;
mod vad;
mod wake;

#[derive(Parser)]
#[command(
    name = "hearken",
    version,
    about = "An always-on voice appliance daemon"
)]
struct Cli {
    /// Config file [default: /etc/hearken/config.toml, else built-in defaults]
    #[arg(long, short, global = true, env = "HEARKEN_CONFIG")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the config, every configured model and the native libraries
    Check(check::Args),
    /// Run the echo canceller over a recording pair (what was played, what the mic heard)
    AecTest(aec_test::Args),
    /// Run the daemon
    Run(run::Args),
    /// Run the daemon over a recording through file-backed ALSA devices
    Simulate(simulate::Args),
    /// List ALSA capture and playback devices, tested for the configured format
    Devices(devices::Args),
    /// Record from a capture device into a WAV file
    Record(record::Args),
    /// Play a WAV file on a playback device
    Play(play::Args),
    /// Run the wake-word detector over WAV files
    Wake(wake::Args),
    /// Run voice activity detection over WAV files
    Vad(vad::Args),
    /// Transcribe WAV files
    Transcribe(transcribe::Args),
    /// Speak text with the configured voice
    Say(say::Args),
    /// Ask the configured LLM and speak the streamed answer
    Ask(ask::Args),
    /// The board's LEDs and button (`hw test`)
    Hw(hw::Args),
    /// Where each way of ending a turn ends it on recorded questions (scripts/turn-pause-fixtures)
    #[command(hide = true)]
    TurnEval(turn_eval::Args),
    /// Ask the running daemon (over api.socket) for its state, health and last turn
    Status(status::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("hearken: {err}");
            return ExitCode::from(2);
        }
    };
    let service = &loaded.config.service;
    logging::init(service.log_target, service.log_level, cli.verbose);
    hearken::pipeline::supervise::log_panics();
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    let result = match cli.command {
        Command::Check(args) => check::run(args, &loaded),
        Command::AecTest(args) => aec_test::run(args, &loaded),
        Command::Run(args) => run::run(args, &loaded),
        Command::Simulate(args) => simulate::run(args, &loaded),
        Command::Devices(args) => devices::run(args, &loaded),
        Command::Record(args) => record::run(args, &loaded),
        Command::Play(args) => play::run(args, &loaded),
        Command::Wake(args) => wake::run(args, &loaded),
        Command::Vad(args) => vad::run(args, &loaded),
        Command::Transcribe(args) => transcribe::run(args, &loaded),
        Command::Say(args) => say::run(args, &loaded),
        Command::Ask(args) => ask::run(args, &loaded),
        Command::Hw(args) => hw::run(args, &loaded),
        Command::TurnEval(args) => turn_eval::run(args, &loaded),
        Command::Status(args) => status::run(args, &loaded),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hearken: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a subcommand gets besides its own arguments.
pub type Ctx = Loaded;
