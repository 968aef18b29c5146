//! A live stream's session ends on the daemon's signals while it is waiting for data: a
//! stream.conf reload (SIGHUP) that disables its key, and shutdown (SIGTERM). The receive loop
//! sets these signals up once per session (not per read): a stream that already received
//! many chunks must still see them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const DEF: &str = "CHART \"sig.chart\" \"\" \"t\" \"u\" \"f\" \"sig.chart\" \"line\" 1 1 \"   \" \"p\" \"m\"\nDIMENSION \"a\" \"a\" \"absolute\" 1 1 \"  \"\n";

/// Sends `n` collections, one write (one chunk for the parent) each, a little apart.
fn send_chunks(s: &mut TcpStream, n: u64) {
    for i in 0..n {
        s.write_all(format!("BEGIN \"sig.chart\" {}\nSET \"a\" = {i}\nEND\n", if i == 0 { 0 } else { 1_000_000 }).as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the parent closes `s` within `limit` (EOF or reset; anything it sends is skipped).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let end = Instant::now() + limit;
    let mut b = [0u8; 256];
    while Instant::now() < end {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn reload_disabling_the_key_ends_a_waiting_stream() {
    let other = "99999999-8888-7777-6666-555555555555";
    let conf = |enabled: &str| format!("[{KEY}]\n  type = api\n  enabled = {enabled}\n[{other}]\n  type = api\n  enabled = yes\n");
    let d = OurDaemon::start("ours", "[plugins]\n  proc = no\n", Some(&conf("yes")));
    let (mut s, greet) = stream_connect(d.port, KEY, "cccccccc-0000-0000-0000-00000000000c", "sighost", 960);
    assert!(greet.starts_with("Hit me baby"), "{greet}");
    // a second stream under a key that stays enabled
    let (mut kept, greet) = stream_connect(d.port, other, "dddddddd-0000-0000-0000-00000000000d", "kepthost", 960);
    assert!(greet.starts_with("Hit me baby"), "{greet}");
    s.write_all(DEF.as_bytes()).expect("defs");
    kept.write_all(DEF.as_bytes()).expect("defs");
    send_chunks(&mut s, 20);
    send_chunks(&mut kept, 3);
    // still open while enabled
    assert!(!closed_within(&mut s, Duration::from_millis(500)), "stream closed before the reload; log:\n{}", d.log_text());
    std::fs::write(d.dir.join("stream.conf"), conf("no")).expect("stream.conf");
    signal(d.pid(), "HUP");
    assert!(closed_within(&mut s, Duration::from_secs(10)), "stream not ended by the reload; log:\n{}", d.log_text());
    assert!(d.log_text().contains("key disabled or replaced"), "log:\n{}", d.log_text());
    // the other stream goes on
    send_chunks(&mut kept, 3);
    assert!(!closed_within(&mut kept, Duration::from_millis(500)), "the other stream was ended too; log:\n{}", d.log_text());
}

#[test]
fn shutdown_ends_a_waiting_stream_and_exits_zero() {
    let mut d = OurDaemon::start("ours", "[plugins]\n  proc = no\n", Some(&format!("[{KEY}]\n  type = api\n  enabled = yes\n")));
    let (mut s, greet) = stream_connect(d.port, KEY, "eeeeeeee-0000-0000-0000-00000000000e", "termhost", 960);
    assert!(greet.starts_with("Hit me baby"), "{greet}");
    s.write_all(DEF.as_bytes()).expect("defs");
    send_chunks(&mut s, 20);
    assert_eq!(d.stop(), Some(0), "daemon did not exit 0 with a stream attached");
    assert!(closed_within(&mut s, Duration::from_secs(10)), "stream still open after shutdown");
}
