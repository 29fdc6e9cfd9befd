//! The hostile clients that run beside the well-behaved ones:
//! - slow clients: each sends a request head one byte at a time (a slowloris); the server's receive
//!   timeout must end it, and the client reconnects and starts again;
//! - a connection flood from one host: connections opened as fast as the server accepts them and held
//!   idle, each for a while, then replaced; past the server's per-host cap, its own are purged.
//!
//! Every simulated host has its own loopback address ([`host`]), as phones and attackers on a SoftAP do.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the attackers did.
#[derive(Default)]
pub(crate) struct Counters {
    /// Slow connections opened.
    pub(crate) slow_connections: AtomicU64,
    /// Bytes the slow clients trickled.
    pub(crate) slow_bytes: AtomicU64,
    /// Slow connections the server ended (408 or close) before the head was complete.
    pub(crate) slow_cut: AtomicU64,
    /// Flood connections opened.
    pub(crate) flood_connections: AtomicU64,
    /// Flood connections the server closed while they were held (its LRU purge).
    pub(crate) flood_purged: AtomicU64,
    /// Flood connection attempts that failed (refused, reset, out of ports).
    pub(crate) flood_failed: AtomicU64,
}

/// A TCP connection to `addr` from `from` (each simulated host has its own loopback address).
pub(crate) async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr).await
}

/// The loopback address of host `i` of group `group` (clients 1, slow clients 2, the flood 3):
/// 127.`group`.x.y, so every simulated phone or attacker is a host of its own.
pub(crate) fn host(group: u8, i: usize) -> Ipv4Addr {
    let i = i % (250 * 250);
    Ipv4Addr::new(127, group, (i / 250) as u8, (i % 250) as u8 + 1)
}

const SLOW_HEAD: &[u8] =
    b"POST /prov-config HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\n";

/// One slow client, until `stop`: connect, trickle the head a byte every `gap`, see the server end it.
pub(crate) async fn slow_client(
    from: Ipv4Addr,
    addr: SocketAddr,
    gap: Duration,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from(from, addr).await else {
            tokio::time::sleep(gap).await;
            continue;
        };
        c.slow_connections.fetch_add(1, Ordering::Relaxed);
        let mut cut = false;
        for b in SLOW_HEAD {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if s.write_all(&[*b]).await.is_err() {
                cut = true;
                break;
            }
            c.slow_bytes.fetch_add(1, Ordering::Relaxed);
            // The server answers 408 (or closes) when its receive timeout runs out.
            let mut buf = [0u8; 256];
            match tokio::time::timeout(gap, s.read(&mut buf)).await {
                Ok(Ok(_)) | Ok(Err(_)) => {
                    cut = true;
                    break;
                }
                Err(_) => {}
            }
        }
        if cut {
            c.slow_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One flood slot, until `stop`: open a connection, hold it idle for `hold`, drop it, again.
pub(crate) async fn flood_slot(
    from: Ipv4Addr,
    addr: SocketAddr,
    hold: Duration,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    while !stop.load(Ordering::Relaxed) {
        match connect_from(from, addr).await {
            Ok(mut s) => {
                c.flood_connections.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 16];
                if let Ok(Ok(_)) = tokio::time::timeout(hold, s.read(&mut buf)).await {
                    c.flood_purged.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                c.flood_failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
