//! Kill -9 harness shared by the storage crash tests: the test binary re-executes itself to run
//! one writer test in a child process, reads the progress marks the child prints (one integer per
//! line: the last step it has written), lets it write on for a grace period and kills it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs test `writer` of this binary in a child with `env` set to `dir`, waits (at most 60 s)
/// until it prints a mark ≥ `min_mark`, lets it write on for `grace`, then SIGKILLs it.
/// Returns the mark reached before the grace period: every step up to it was accepted.
/// Panics (fails the test) if the child does not progress or stops before the kill.
pub fn run_and_kill(writer: &str, env: &str, dir: &Path, min_mark: i64, grace: Duration) -> i64 {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", writer, "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<i64>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(i) = line.trim().parse::<i64>() {
                if tx.send(i).is_err() {
                    break;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut mark = -1;
    while mark < min_mark && Instant::now() < deadline {
        if let Ok(i) = rx.recv_timeout(Duration::from_millis(200)) {
            mark = i;
        }
    }
    if mark < min_mark {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child {writer} did not progress (last mark {mark}, wanted {min_mark})");
    }
    let grace_end = Instant::now() + grace;
    let mut last = mark;
    while Instant::now() < grace_end {
        if let Ok(i) = rx.recv_timeout(Duration::from_millis(100)) {
            last = i;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    drop(rx);
    let _ = reader.join();
    assert!(
        last > mark,
        "child {writer} stopped writing before the kill"
    );
    mark
}
