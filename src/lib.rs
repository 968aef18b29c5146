//! Core library of a Netdata-compatible parent cluster (`netdatad`, `netdatactl`).
//!
//! See `ARCHITECTURE.md` for the code map and invariants.

pub mod api;
pub mod collect;
pub mod config;
pub mod ingest;
pub mod model;
pub mod outbound;
pub mod proto;
pub mod replication;
pub mod replication_out;
pub mod replication_sibling;
pub mod snapshot;
pub mod storage;
#[doc(hidden)]
pub mod testkit;
