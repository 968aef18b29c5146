//! Netdata 1.37.1 streaming protocol — pure, no I/O.
//!
//! Layers, bottom up (see `/work/shared/protocol/netdata-stream-1.37.md` for the wire facts):
//!
//! * [`request`] — the child's `STREAM ...` request (parse on the parent, build on the child) and
//!   [`request::is_stream_request`] for telling STREAM from HTTP on the shared port.
//! * [`handshake`] — capability bits, both negotiation algorithms, the exact greeting and refusal
//!   strings, and what a child does with each reply.
//! * [`compress`] — the child → parent LZ4 framing (decoder and encoder).
//! * [`reader`] — a line framer over received bytes (optionally through the decompressor) that
//!   tells a clean end of stream from a truncated one.
//! * [`tokenizer`] — Netdata's word splitter.
//! * [`command`] — one typed command per keyword, parse and encode side by side.
//!
//! How the daemon drives it:
//!
//! * **parent (receiver)**: peek the first bytes → [`request::is_stream_request`]; accumulate until
//!   [`request::StreamRequest::parse`] returns `Some`; [`request::StreamRequest::check_identity`] +
//!   stream.conf checks; [`handshake::negotiate_parent`] → [`handshake::Reply::greeting_for`] →
//!   write `encode()` in one write (or a refusal `Reply`); then a [`LineReader`]
//!   (`enable_compression()` if COMPRESSION was granted) → [`Command::parse`] per line; after
//!   `FUNCTION_RESULT_BEGIN` feed lines to [`command::FunctionResultBody`] instead; answer
//!   `CHART_DEFINITION_END` with [`Downstream::ReplayChart`] `encode()`.
//! * **child (sender)**: [`request::ChildRequest::encode`] → one read → [`handshake::Reply::classify`]
//!   (postpone with `postpone_secs()` on refusal) → [`handshake::negotiate_child`]; encode blocks
//!   with [`Command::encode`], pass each block through [`compress::Compressor`] if COMPRESSION;
//!   read the parent's lines with a [`LineReader`] and [`Downstream::parse`] (log and ignore
//!   errors, as Netdata does).
//!
//! **Invariant**: nothing in this module touches a socket, a file or a clock; every length and
//! count that comes from the peer is checked against a bound before it is used, and no input
//! makes it panic (see the `stream_parser` fuzz target).

pub mod command;
pub mod compress;
pub mod handshake;
pub mod number;
pub mod reader;
pub mod request;
pub mod tokenizer;

pub use command::{Command, Downstream, ParseError};
pub use reader::LineReader;


/// Longest line a 1.37.1 peer accepts (`PLUGINSD_LINE_MAX` = 16384 − 1024), newline excluded.
pub const MAX_LINE_LEN: usize = 15360;
