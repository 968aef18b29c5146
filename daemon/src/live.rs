//! Which hosts are streaming to us right now, from where, with which key — the live half of
//! `/api/v1/info` (`reachable`) and `/api/v1/streaming`, and the clone/duplicate guard.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Netdata's liveness window: a receiver that got data within this is "live".
pub const LIVE_WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Attachment {
    pub guid: String,
    pub hostname: String,
    pub peer: SocketAddr,
    pub api_key: String,
    pub hops: u32,
    pub capabilities: u32,
    pub compression: bool,
    pub connected_at: std::time::SystemTime,
    pub session: u64,
}

struct Entry {
    att: Attachment,
    last_data: Instant,
    kick: watch::Sender<bool>,
}

/// Why a stream cannot attach.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The GUID is live from another connection (got data within [`LIVE_WINDOW`]).
    AlreadyStreaming { other_peer: SocketAddr, other_hostname: String },
}

#[derive(Default)]
pub struct LiveHosts {
    inner: Mutex<HashMap<String, Entry>>,
    next_session: std::sync::atomic::AtomicU64,
}

impl LiveHosts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches a stream for `att.guid`. A stale receiver (no data for 30 s) is kicked out and
    /// replaced, as Netdata does; a live one makes this attempt fail.
    /// Returns the session number and a receiver that turns `true` when this session must end.
    pub fn attach(&self, mut att: Attachment) -> Result<(u64, watch::Receiver<bool>), AttachError> {
        let mut g = self.lock();
        if let Some(e) = g.get(&att.guid) {
            if e.last_data.elapsed() < LIVE_WINDOW {
                return Err(AttachError::AlreadyStreaming { other_peer: e.att.peer, other_hostname: e.att.hostname.clone() });
            }
            let _ = e.kick.send(true);
        }
        let session = self.next_session.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        att.session = session;
        let (tx, rx) = watch::channel(false);
        g.insert(att.guid.clone(), Entry { att, last_data: Instant::now(), kick: tx });
        Ok((session, rx))
    }

    /// Marks that data arrived on the session.
    pub fn touch(&self, guid: &str, session: u64) {
        if let Some(e) = self.lock().get_mut(guid) {
            if e.att.session == session {
                e.last_data = Instant::now();
            }
        }
    }

    pub fn detach(&self, guid: &str, session: u64) {
        let mut g = self.lock();
        if g.get(guid).is_some_and(|e| e.att.session == session) {
            g.remove(guid);
        }
    }

    /// Seconds since the receiver of `guid` last got data, if one is attached.
    pub fn idle_secs(&self, guid: &str) -> Option<u64> {
        self.lock().get(guid).map(|e| e.last_data.elapsed().as_secs())
    }

    pub fn get(&self, guid: &str) -> Option<Attachment> {
        self.lock().get(guid).map(|e| e.att.clone())
    }

    pub fn all(&self) -> Vec<Attachment> {
        self.lock().values().map(|e| e.att.clone()).collect()
    }

    /// Ends every session for which `keep` says no (e.g. its API key got disabled).
    pub fn kick_where(&self, mut drop_it: impl FnMut(&Attachment) -> bool) -> usize {
        let g = self.lock();
        let mut n = 0;
        for e in g.values() {
            if drop_it(&e.att) {
                let _ = e.kick.send(true);
                n += 1;
            }
        }
        n
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(guid: &str, port: u16) -> Attachment {
        Attachment {
            guid: guid.into(),
            hostname: format!("h{port}"),
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
            api_key: "k".into(),
            hops: 1,
            capabilities: 0,
            compression: false,
            connected_at: std::time::SystemTime::now(),
            session: 0,
        }
    }

    #[test]
    fn live_guid_from_second_peer_is_refused_and_names_first_peer() {
        let live = LiveHosts::default();
        let (s1, _rx) = live.attach(att("g", 1)).expect("first");
        let err = live.attach(att("g", 2)).expect_err("second");
        assert_eq!(err, AttachError::AlreadyStreaming { other_peer: SocketAddr::from(([127, 0, 0, 1], 1)), other_hostname: "h1".into() });
        live.detach("g", s1);
        live.attach(att("g", 2)).expect("after detach");
    }

    #[test]
    fn kick_signals_matching_sessions_only() {
        let live = LiveHosts::default();
        let (_, rx1) = live.attach(att("a", 1)).expect("a");
        let mut b = att("b", 2);
        b.api_key = "other".into();
        let (_, rx2) = live.attach(b).expect("b");
        assert_eq!(live.kick_where(|a| a.api_key == "k"), 1);
        assert!(*rx1.borrow());
        assert!(!*rx2.borrow());
    }
}
