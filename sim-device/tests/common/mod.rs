//! A minimal client for the integration tests: Security 1 and 2 handshakes and data encryption, written
//! from the spec (§3.3, §3.4) against the device's public API.

#![allow(dead_code, unreachable_pub)]

use std::time::Instant;

use aes::Aes256;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ctr::cipher::{KeyIvInit, StreamCipher};
use num_bigint::BigUint;
use prost::Message;
use proto::protocomm::*;
use sha2::{Digest, Sha256};
use sim_device::security::srp;
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

fn sec1(msg: i32, p: sec1_payload::Payload) -> Vec<u8> {
    SessionData {
        sec_ver: 1,
        proto: Some(session_data::Proto::Sec1(Sec1Payload {
            msg,
            payload: Some(p),
        })),
    }
    .encode_to_vec()
}

fn sec2(msg: i32, p: sec2_payload::Payload) -> Vec<u8> {
    SessionData {
        sec_ver: 2,
        proto: Some(session_data::Proto::Sec2(Sec2Payload {
            msg,
            payload: Some(p),
        })),
    }
    .encode_to_vec()
}

/// One Security 1 handshake exchange; returns the response's payload.
fn sec1_exchange(
    dev: &mut Device,
    sid: SessionId,
    msg: i32,
    p: sec1_payload::Payload,
    now: Instant,
) -> Result<Option<sec1_payload::Payload>, String> {
    let r = call(dev, "prov-session", sid, &sec1(msg, p), now)?;
    match SessionData::decode(r.as_slice())
        .map_err(|e| e.to_string())?
        .proto
    {
        Some(session_data::Proto::Sec1(p)) => Ok(p.payload),
        _ => Err("not a Security 1 response".into()),
    }
}

/// One Security 2 handshake exchange; returns the response's payload.
fn sec2_exchange(
    dev: &mut Device,
    sid: SessionId,
    msg: i32,
    p: sec2_payload::Payload,
    now: Instant,
) -> Result<Option<sec2_payload::Payload>, String> {
    let r = call(dev, "prov-session", sid, &sec2(msg, p), now)?;
    match SessionData::decode(r.as_slice())
        .map_err(|e| e.to_string())?
        .proto
    {
        Some(session_data::Proto::Sec2(p)) => Ok(p.payload),
        _ => Err("not a Security 2 response".into()),
    }
}

/// Encryption state of an established client session.
pub enum ClientCipher {
    Plain,
    Ctr(Box<ctr::Ctr128BE<Aes256>>),
    Gcm {
        key: [u8; 32],
        prefix: [u8; 8],
        counter: u32,
    },
}

impl ClientCipher {
    pub fn encrypt(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Plain => data.to_vec(),
            Self::Ctr(c) => {
                let mut v = data.to_vec();
                c.apply_keystream(&mut v);
                v
            }
            Self::Gcm {
                key,
                prefix,
                counter,
            } => {
                let nonce = [prefix.as_slice(), &counter.to_be_bytes()].concat();
                *counter += 1;
                Aes256Gcm::new(key.as_slice().into())
                    .encrypt(Nonce::from_slice(&nonce), data)
                    .unwrap()
            }
        }
    }

    pub fn decrypt(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Plain => Some(data.to_vec()),
            Self::Ctr(_) => Some(self.encrypt(data)),
            Self::Gcm {
                key,
                prefix,
                counter,
            } => {
                let nonce = [prefix.as_slice(), &counter.to_be_bytes()].concat();
                let out = Aes256Gcm::new(key.as_slice().into())
                    .decrypt(Nonce::from_slice(&nonce), data)
                    .ok()?;
                *counter += 1;
                Some(out)
            }
        }
    }
}

/// Security 1 handshake on `sid`; returns the client cipher positioned after the handshake.
pub fn sec1_handshake(
    dev: &mut Device,
    sid: SessionId,
    pop: &[u8],
    now: Instant,
) -> Result<ClientCipher, String> {
    let secret = x25519_dalek::StaticSecret::from([0x5a; 32]);
    let pubkey = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let Some(sec1_payload::Payload::Sr0(sr0)) = sec1_exchange(
        dev,
        sid,
        0,
        sec1_payload::Payload::Sc0(SessionCmd0 {
            client_pubkey: pubkey.to_vec(),
        }),
        now,
    )?
    else {
        return Err("no sr0".into());
    };
    let dev_pub: [u8; 32] = sr0
        .device_pubkey
        .as_slice()
        .try_into()
        .map_err(|_| "bad key")?;
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(dev_pub));
    let mut key = *shared.as_bytes();
    if !pop.is_empty() {
        for (k, d) in key.iter_mut().zip(Sha256::digest(pop)) {
            *k ^= d;
        }
    }
    let iv: [u8; 16] = sr0
        .device_random
        .as_slice()
        .try_into()
        .map_err(|_| "bad random")?;
    let mut c = ctr::Ctr128BE::<Aes256>::new(&key.into(), &iv.into());
    let mut verify = dev_pub;
    c.apply_keystream(&mut verify);
    let Some(sec1_payload::Payload::Sr1(sr1)) = sec1_exchange(
        dev,
        sid,
        2,
        sec1_payload::Payload::Sc1(SessionCmd1 {
            client_verify_data: verify.to_vec(),
        }),
        now,
    )?
    else {
        return Err("no sr1".into());
    };
    let mut check = sr1.device_verify_data.clone();
    c.apply_keystream(&mut check);
    if check != pubkey {
        return Err("device verify mismatch".into());
    }
    Ok(ClientCipher::Ctr(Box::new(c)))
}

/// Security 2 handshake (patch 1) on `sid`.
pub fn sec2_handshake(
    dev: &mut Device,
    sid: SessionId,
    user: &[u8],
    password: &[u8],
    now: Instant,
) -> Result<ClientCipher, String> {
    let a = BigUint::from_bytes_be(&[0x33; 32]);
    let a_bytes = srp::pad(&srp::client_public(&a));
    let Some(sec2_payload::Payload::Sr0(sr0)) = sec2_exchange(
        dev,
        sid,
        0,
        sec2_payload::Payload::Sc0(S2SessionCmd0 {
            client_username: user.to_vec(),
            client_pubkey: a_bytes.clone(),
        }),
        now,
    )?
    else {
        return Err("no sr0".into());
    };
    let b_pub = BigUint::from_bytes_be(&sr0.device_pubkey);
    let x = srp::private_key(&sr0.device_salt, user, password);
    let u = srp::scrambler(&srp::client_public(&a), &b_pub);
    let key = srp::session_key(&srp::client_premaster(&b_pub, &x, &a, &u));
    let m = srp::client_proof(user, &sr0.device_salt, &a_bytes, &sr0.device_pubkey, &key);
    let Some(sec2_payload::Payload::Sr1(sr1)) = sec2_exchange(
        dev,
        sid,
        2,
        sec2_payload::Payload::Sc1(S2SessionCmd1 {
            client_proof: m.to_vec(),
        }),
        now,
    )?
    else {
        return Err("no sr1".into());
    };
    if sr1.device_proof != srp::device_proof(&a_bytes, &m, &key) {
        return Err("device proof mismatch".into());
    }
    let prefix: [u8; 8] = sr1
        .device_nonce
        .get(..8)
        .and_then(|p| p.try_into().ok())
        .ok_or("bad nonce")?;
    let mut k = [0u8; 32];
    k.copy_from_slice(&key[..32]);
    Ok(ClientCipher::Gcm {
        key: k,
        prefix,
        counter: 1,
    })
}
