//! One module per subcommand: clap `Args` + `run`.

pub mod duplicate;
pub mod keys;
pub mod quarantine;
pub mod status;
