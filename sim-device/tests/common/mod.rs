//! Glue between `prov_client` (the one client of the protocol) and a `Device` driven in memory: a
//! request is `Device::handle` with a ready reply. No protocol code lives here.

#![allow(dead_code, unreachable_pub)]

use std::time::Instant;

use prov_client::{Cipher, Handshake, Sec1Client, Sec2Client};
use sim_device::{Device, Reply, SessionId};

/// Send and expect a ready reply.
pub fn call(
    dev: &mut Device,
    ep: &str,
    sid: SessionId,
    req: &[u8],
    now: Instant,
) -> Result<Vec<u8>, String> {
    match dev.handle(ep, sid, req, now) {
        Ok(Reply::Ready(b)) => Ok(b),
        Ok(Reply::Deferred) => Err("deferred".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `hs` on session `sid` and returns the data-phase cipher (Security 2 with patch 1).
pub fn handshake(
    dev: &mut Device,
    sid: SessionId,
    mut hs: Handshake,
    now: Instant,
) -> Result<Cipher, String> {
    hs.run(1, |body, _| call(dev, "prov-session", sid, body, now))
        .map_err(|e| e.to_string())
}

/// A Security 1 handshake with PoP `pop` (a fixed client key, so runs are reproducible).
pub fn sec1(pop: &[u8]) -> Handshake {
    Handshake::Sec1(Box::new(Sec1Client::new(Some(pop.to_vec()), [0x5a; 32])))
}

/// A Security 2 handshake as `user` with `password` (a fixed client secret).
pub fn sec2(user: &[u8], password: &[u8]) -> Handshake {
    Handshake::Sec2(Box::new(Sec2Client::new(user, password, [0x33; 32])))
}
