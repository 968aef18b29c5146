//! (work in progress)
pub mod compute;
