use std::process::ExitCode;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<ExitCode> {
    super::not_built("say")
}
