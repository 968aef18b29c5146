//! Sibling backfill (issue 5, beyond Netdata), the daemon side of
//! [`ndcluster::replication_sibling`]:
//!
//! * `GET /api/v1/replicate?host=<guid|hostname>&chart=<id>&after=<s>&before=<s>`: our stored
//!   points of `(after, before]` as replication-reply lines (text/plain), for a sibling parent.
//!   At most 3600 steps per answer; `REND`'s `before` tells how far it got.
//! * [`spawn_backfill`]: once a host's replication from its sender is done, look for holes in
//!   its history (within `seconds to replicate`) and ask the `[stream] destination`s for them;
//!   those that are not our daemons (a real Netdata answers 404) are skipped.
//!
//! **Invariant:** backfill only ever writes into holes (the store refuses overlaps); it runs on
//! a blocking thread, bounded by [`MAX_HOLES`] per chart and one pass per stream session.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use ndcluster::api::http::{Request, Response};
use ndcluster::replication_out::{answer_range, ReplyLimits};
use ndcluster::replication_sibling::{apply_reply, holes, MAX_HOLES};
use ndcluster::storage::{SeriesId, Store};

use crate::local::now_s;
use crate::Shared;

/// Largest range asked in one request (seconds of a 1 s chart).
const CHUNK_STEPS: i64 = 3600;
/// Largest answer read from a sibling.
const MAX_BODY: u64 = 32 << 20;

pub fn handle(shared: &Shared, req: &Request) -> Response {
    let num = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(host), Some(chart), Some(after), Some(before)) = (req.param("host"), req.param("chart"), num("after"), num("before")) else {
        return Response::text(400, "host, chart, after and before are required");
    };
    let store = &shared.store;
    let Some((hid, _)) = store.hosts().into_iter().find(|(_, m)| m.guid.eq_ignore_ascii_case(host) || m.hostname == host) else {
        return Response::text(404, format!("no host {host}"));
    };
    let Some((cid, meta)) = store.charts(hid).into_iter().find(|(_, m)| m.id == chart) else {
        return Response::text(404, format!("host {host} has no chart {chart}"));
    };
    let dims = store.dimensions(cid);
    let series: Vec<SeriesId> = dims.iter().map(|(s, _)| *s).collect();
    let metas: Vec<_> = dims.into_iter().map(|(_, m)| m).collect();
    let mut out = Vec::with_capacity(64 * 1024);
    answer_range(store.as_ref(), chart, &series, &metas, i64::from(meta.update_every), after, before, now_s(), ReplyLimits { max_steps: CHUNK_STEPS as usize, max_bytes: 8 << 20 }, &mut out);
    Response::new(200, "text/plain; charset=utf-8", out)
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: sibling\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.take(MAX_BODY).read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&buf[..head_end]).ok()?.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf[head_end + 4..].to_vec()))
}

/// Looks for holes in host `guid`'s history of the last `seconds` and fills them from the
/// siblings (our `[stream] destination`s). Runs on a blocking thread; returns at once.
pub fn spawn_backfill(shared: Arc<Shared>, guid: String, seconds: i64) {
    let dests: Vec<SocketAddr> = shared.stream_conf().stream.destinations.iter().filter_map(|d| d.host_port().to_socket_addrs().ok()?.next()).collect();
    if dests.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || backfill(&shared, &guid, seconds, &dests));
}

/// One backfill pass at a time (each scans the host's history once).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn backfill(shared: &Shared, guid: &str, seconds: i64, dests: &[SocketAddr]) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let store: &Arc<dyn Store> = &shared.store;
    let Some((hid, meta)) = store.hosts().into_iter().find(|(_, m)| m.guid == guid) else { return };
    let now = now_s();
    let from = now - seconds.clamp(1, 10 * 365 * 86_400);
    let (mut holes_found, mut filled, mut siblings_useless) = (0usize, 0usize, vec![false; dests.len()]);
    for (cid, chart) in store.charts(hid) {
        let dims = store.dimensions(cid);
        let Some((first, _)) = dims.first() else { continue };
        let ue = i64::from(chart.update_every.max(1));
        // Holes between our points only: before our first point a sibling may or may not have
        // history, and asking for all of it on every reconnect would be a flood of requests.
        let Ok(hs) = holes(store.as_ref(), *first, ue, from, now, false) else { continue };
        if hs.is_empty() {
            continue;
        }
        let by_id: HashMap<String, SeriesId> = dims.iter().map(|(s, m)| (m.id.clone(), *s)).collect();
        for (a, b) in hs.into_iter().take(MAX_HOLES) {
            holes_found += 1;
            let mut after = a;
            let mut rounds = 0;
            while after < b && rounds < 1000 {
                rounds += 1;
                let before = b.min(after + CHUNK_STEPS * ue);
                let path = format!("/api/v1/replicate?host={guid}&chart={}&after={after}&before={before}", chart.id);
                for (i, addr) in dests.iter().enumerate() {
                    if siblings_useless[i] {
                        continue;
                    }
                    match http_get(*addr, &path) {
                        Some((200, body)) if body.starts_with(b"RBEGIN") => match apply_reply(store.as_ref(), &by_id, &body) {
                            Ok((n, _)) => {
                                filled += n;
                                if n > 0 {
                                    break;
                                }
                            }
                            Err(e) => tracing::warn!(host = %meta.hostname, chart = %chart.id, error = %e, "storing a sibling's points failed"),
                        },
                        Some((404, body)) if body.starts_with(b"no host") || body.windows(12).any(|w| w == b"has no chart") => {}
                        // Not our daemon (or unreachable): do not ask it again in this pass.
                        _ => siblings_useless[i] = true,
                    }
                }
                after = before;
            }
        }
    }
    if holes_found > 0 {
        tracing::info!(host = %meta.hostname, holes = holes_found, points = filled, "sibling backfill done");
    }
}
