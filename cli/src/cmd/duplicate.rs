//! `netdatactl duplicate` (in progress).
use crate::error::Result;
use crate::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &mut Ctx<'_>, _args: Args) -> Result<()> {
    Ok(())
}
