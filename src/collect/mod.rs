//! (work in progress)
pub mod proc;
