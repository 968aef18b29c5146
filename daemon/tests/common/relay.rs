//! A TCP byte relay on 127.0.0.1 that a test controls: it forwards every accepted connection to
//! a target port, and can *cut* the link (close both sides of every connection and refuse new
//! ones: the listening socket is closed) and *resume* (listen again on the same port).
//! Threads only; everything stops when the relay is dropped.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    stop: AtomicBool,
    paused: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
    accepted: AtomicU64,
    bytes: AtomicU64,
}

pub struct Relay {
    pub port: u16,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on a free loopback port and forwards to 127.0.0.1:`target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        let st = state.clone();
        let thread = std::thread::Builder::new().name(format!("relay-{port}")).spawn(move || accept_loop(Some(listener), port, target, st)).expect("relay thread");
        Self { port, state, thread: Some(thread) }
    }

    /// Closes every relayed connection (both sides) and refuses new ones until [`Relay::resume`].
    pub fn cut(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
        self.close_all();
        // Let the accept loop drop its listener before returning.
        std::thread::sleep(Duration::from_millis(200));
        self.close_all();
    }

    /// Accepts connections again (on the same port).
    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Bytes relayed so far (both directions).
    pub fn bytes(&self) -> u64 {
        self.state.bytes.load(Ordering::SeqCst)
    }

    fn close_all(&self) {
        let mut conns = self.state.conns.lock().unwrap_or_else(|p| p.into_inner());
        for s in conns.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.close_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(mut listener: Option<TcpListener>, port: u16, target: u16, st: Arc<State>) {
    let target = SocketAddr::from(([127, 0, 0, 1], target));
    while !st.stop.load(Ordering::SeqCst) {
        if st.paused.load(Ordering::SeqCst) {
            listener = None;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => {
                    listener = Some(l);
                    continue;
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        let _ = l.set_nonblocking(true);
        match l.accept() {
            Ok((client, _)) => {
                if st.paused.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                {
                    let mut conns = st.conns.lock().unwrap_or_else(|p| p.into_inner());
                    if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                        conns.push(a);
                        conns.push(b);
                    }
                }
                pump(client, s2, st.clone());
                pump(server, c2, st.clone());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Copies `from` → `to` until either side closes (then both are shut down). Bounded: the
/// reads time out every second to notice the relay stopping.
fn pump(mut from: TcpStream, mut to: TcpStream, st: Arc<State>) {
    let _ = from.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = std::thread::Builder::new().name("relay-pump".into()).spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let started = Instant::now();
        loop {
            if st.stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(3600) {
                break;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    st.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
                Err(_) => break,
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
