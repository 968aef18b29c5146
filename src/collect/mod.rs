//! Collection: the computation shared by every source, and this machine's collectors.
pub mod compute;
pub mod proc;
