//! Our daemon as a child whose upstream session is reset: a 1.37 parent keeps the dead
//! session's receiver for a moment and refuses the reconnection as "already streaming". That
//! refusal, right after our own session there ended, must not cost the 2-minute (and longer)
//! back-off meant for a host really streamed by someone else: we retry within seconds.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Waits (bounded) for our daemon's next connection and reads its request line.
fn accept_request(l: &TcpListener, limit: Duration) -> Option<(TcpStream, String)> {
    l.set_nonblocking(true).expect("nonblocking");
    let end = Instant::now() + limit;
    let mut s = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return None,
        }
    };
    s.set_nonblocking(false).expect("blocking");
    let req = read_stream_request(&mut s);
    Some((s, req))
}

#[test]
fn reset_session_refused_as_already_streaming_is_retried_within_seconds() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sc = format!("[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{port}\n  api key = {KEY}\n  reconnect delay seconds = 1\n");
    let ours = OurDaemon::start("resetchild", "", Some(&sc));

    // 1: accepted, then reset (closed with our daemon's data unread).
    let (mut s, req) = accept_request(&listener, Duration::from_secs(30)).unwrap_or_else(|| panic!("no first connection; log:\n{}", ours.log_text()));
    assert!(req.contains("hostname=resetchild"), "{req}");
    s.write_all(b"Hit me baby, push them over with the version=1").expect("greeting");
    std::thread::sleep(Duration::from_millis(1500));
    drop(s);

    // 2: the parent still holds the dead session.
    let (mut s, _) = accept_request(&listener, Duration::from_secs(15)).unwrap_or_else(|| panic!("no reconnection after the reset; log:\n{}", ours.log_text()));
    s.write_all(b"This GUID is already streaming to this server").expect("refusal");
    drop(s);

    // 3: retried soon (the back-off for a host live elsewhere is 2 minutes).
    let (mut s, req) = accept_request(&listener, Duration::from_secs(20)).unwrap_or_else(|| panic!("not retried within 20 s after 'already streaming' right after our own session ended; log:\n{}", ours.log_text()));
    assert!(req.contains("hostname=resetchild"), "{req}");
    s.write_all(b"Hit me baby, push them over with the version=1").expect("greeting");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\nBEGIN ") && got.len() < (1 << 22) {
        match s.read(&mut b) {
            Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
            _ => break,
        }
    }
    assert!(String::from_utf8_lossy(&got).contains("\nBEGIN "), "the resumed session carries no samples; log:\n{}", ours.log_text());
    assert!(ours.log_text().contains("still holds our session"), "log:\n{}", ours.log_text());
}
