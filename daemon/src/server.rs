//! The listener on `[web] bind to`: one port carries both HTTP and Netdata `STREAM` requests.
//! Each accepted connection is peeked at: `STREAM ` goes to the stream receiver, anything
//! else to the HTTP loop.
//!
//! **Invariant:** a slow, silent or hostile peer only ever costs its own task: every read has
//! a timeout, every buffer a bound, and the number of connections is capped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::Shared;

/// Connections served at once (HTTP and streams together); more are closed at accept.
pub const MAX_CONNECTIONS: usize = 4096;
/// Time a new connection gets to send its first bytes.
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle time after which a kept-alive HTTP connection is closed.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest HTTP request head we read.
pub const MAX_HTTP_REQUEST: usize = 128 * 1024;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = MAX_CONNECTIONS, "too many connections; closing new one");
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, peer, shared, shutdown).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 7];
    let n = match tokio::time::timeout(FIRST_BYTES_TIMEOUT, peek_at_least(&stream, &mut first)).await {
        Ok(r) => r?,
        Err(_) => {
            tracing::debug!(%peer, "no request within {:?}; closing", FIRST_BYTES_TIMEOUT);
            return Ok(());
        }
    };
    if n == 0 {
        return Ok(());
    }
    if &first[..n] == b"STREAM " {
        crate::receiver::serve_stream(stream, peer, shared, shutdown).await
    } else {
        http(stream, peer, shared, shutdown).await
    }
}

/// Peeks until 7 bytes are there, the peer closed, or what is there cannot be `STREAM `.
async fn peek_at_least(stream: &TcpStream, buf: &mut [u8; 7]) -> std::io::Result<usize> {
    for _ in 0..200 {
        let n = stream.peek(buf).await?;
        if n == 0 || n == buf.len() || !b"STREAM ".starts_with(&buf[..n]) {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(0)
}

async fn http(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    shared.counters.api_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Parse what we have; read more when incomplete. `POST /api/v1/cluster/*` carries a
        // body (an rsync signature, up to 64 MiB) that the common parser does not keep.
        let with_body = crate::snapshot::wants_body(&buf);
        let parsed = if with_body {
            match crate::snapshot::parse_with_body(&buf) {
                Ok(r) => Ok(r.map(|(req, body, used)| (req, used, Some(body)))),
                Err(resp) => {
                    tracing::debug!(%peer, status = resp.status, "bad cluster request");
                    stream.write_all(&resp.encode(crate::local::now_s(), false, true)).await?;
                    linger_close(stream).await;
                    return Ok(());
                }
            }
        } else {
            ndcluster::api::http::parse_request(&buf).map(|r| r.map(|(req, used)| (req, used, None)))
        };
        match parsed {
            Ok(Some((mut req, used, body))) => {
                buf.drain(..used);
                req.peer = Some(peer.ip());
                let keep_alive = req.keep_alive;
                let head = req.method == ndcluster::api::http::Method::Head;
                if body.is_none() && req.method == ndcluster::api::http::Method::Get && req.path == "/api/v1/cluster/file" {
                    // Snapshot files are streamed, not built in memory.
                    let n = crate::snapshot::stream_file(&mut stream, &shared, req, keep_alive).await?;
                    shared.counters.api_bytes_out.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    if !keep_alive {
                        let _ = stream.shutdown().await;
                        return Ok(());
                    }
                    continue;
                }
                let sh = shared.clone();
                let resp = tokio::task::spawn_blocking(move || match body {
                    Some(b) => {
                        sh.counters.api_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::snapshot::handle(&sh, &req, Some(&b))
                    }
                    None => sh.handle_http(&req),
                })
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(%peer, error = %e, "API handler failed");
                    ndcluster::api::http::Response::text(500, "internal error; see the daemon log")
                });
                let bytes = resp.encode(crate::local::now_s(), keep_alive, !head);
                shared.counters.api_bytes_out.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                stream.write_all(&bytes).await?;
                if !keep_alive {
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                let resp = e.to_response();
                tracing::debug!(%peer, error = %e, "bad HTTP request");
                stream.write_all(&resp.encode(crate::local::now_s(), false, true)).await?;
                linger_close(stream).await;
                return Ok(());
            }
        }
        if buf.len() >= MAX_HTTP_REQUEST && !with_body {
            let resp = ndcluster::api::http::Response::text(431, "request head too large");
            stream.write_all(&resp.encode(crate::local::now_s(), false, true)).await?;
            linger_close(stream).await;
            return Ok(());
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::select! {
            r = tokio::time::timeout(HTTP_IDLE_TIMEOUT, stream.read(&mut chunk)) => match r {
                Ok(r) => r?,
                Err(_) => return Ok(()),
            },
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        shared.counters.api_bytes_in.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Closes after an error answer without resetting the connection under the client's feet:
/// shut our side, then discard what the client is still sending (bounded in bytes and time),
/// so it can read the answer.
async fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 8192];
    let mut left: usize = 1 << 20;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}
