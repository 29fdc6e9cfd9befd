//! The whole device: input bytes pick a security scheme and a profile, then drive a [`Device`] with a
//! sequence of operations. Beyond "no panic" it asserts, for Security 1 and 2:
//! - a session is established only by a handshake with the right PoP or password (no `SetupOk` event
//!   comes from raw input, and a handshake with wrong credentials never completes);
//! - an encrypted endpoint never answers on a session no right handshake completed on;
//! - under Security 2, every answer on an established session authenticates (GCM);
//!
//! and for every scheme: after any input, unless the service has legitimately stopped or is busy, a
//! fresh session completes and GetStatus answers.
//!
//! Input format (so that golden vectors can be written as seeds, [`encode`]):
//! `[config]` then operations, each `[tag]` and its fields; `config` bit 0: Security 0 or 1 (target
//! `device`; target `device_sec2` is always Security 2), bit 2: profile network_provisioning 1.2.
//!
//! | tag % 8 | operation | fields |
//! |---|---|---|
//! | 0–2 | raw request | endpoint index, session id, length (u16 LE), bytes |
//! | 3 | request through the harness's own session | endpoint index, length, plaintext |
//! | 4 | time passes | milliseconds (u16 LE) |
//! | 5 | handshake | session id, right (even) or wrong (odd) credentials |
//! | 6 / 7 | transport opens / closes a session | session id |
//!
//! An input runs at most [`MAX_OPS`] operations and [`MAX_HANDSHAKES`] handshakes (later ones are
//! skipped): the handshake states are all reached within a few, and uncapped inputs drifted toward
//! thousands of X25519 handshakes each, which cut the target's speed a hundredfold.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prov_client::{srp, Cipher, Handshake, Profile, Sec1Client, Sec2Client};
use sim_device::{
    CustomEndpoint, Device, DeviceConfig, DeviceEvent, NoResponse, Reject, Reply, Sec2Patch,
    Secret, Security, SecurityEvent, SeededRng, Until,
};

const POP: &[u8] = b"abcd1234";
const USER: &[u8] = b"wifiprov";
const SALT: &[u8] = b"0123456789abcdef";
/// Operations an input runs at most.
pub const MAX_OPS: usize = 256;
/// Handshakes an input runs at most (the liveness check at the end is one more).
pub const MAX_HANDSHAKES: usize = 8;
/// The session id of the liveness check at the end (no operation can name it: ids are one byte).
const FRESH: u32 = 0x1_0000;

/// One operation, decoded from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Bytes as they come.
    Raw {
        /// Endpoint number (modulo the device's endpoints and one unknown name).
        ep: u8,
        /// Session id.
        session: u8,
        /// The request.
        body: Vec<u8>,
    },
    /// A plaintext, encrypted through the harness's last right handshake.
    Client {
        /// Endpoint number.
        ep: u8,
        /// The plaintext.
        plain: Vec<u8>,
    },
    /// Time passes.
    Advance(u16),
    /// A handshake.
    Handshake {
        /// Session id.
        session: u8,
        /// With the right credentials (else wrong ones).
        right: bool,
    },
    /// The transport opens a session.
    Open(u8),
    /// The transport closes a session.
    Close(u8),
}

/// The device configuration an input asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// 0, 1 or 2.
    pub security: u8,
    /// Which implementation family the device behaves as.
    pub profile: Profile,
}

/// Reads an input; `None` when not even the config byte is there.
pub fn decode(data: &[u8]) -> Option<(Setup, Vec<Op>)> {
    let (&config, mut rest) = data.split_first()?;
    let setup = Setup {
        security: config & 3,
        profile: if config & 4 == 0 {
            Profile::EspIdf55
        } else {
            Profile::NetworkProv12
        },
    };
    let mut ops = Vec::new();
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        let op = match tag % 8 {
            0..=2 => {
                let ep = byte(&mut rest);
                let session = byte(&mut rest);
                let len = word(&mut rest);
                Op::Raw {
                    ep,
                    session,
                    body: take(len, &mut rest),
                }
            }
            3 => {
                let ep = byte(&mut rest);
                let len = word(&mut rest);
                Op::Client {
                    ep,
                    plain: take(len, &mut rest),
                }
            }
            4 => Op::Advance(word(&mut rest)),
            5 => {
                let session = byte(&mut rest);
                Op::Handshake {
                    session,
                    right: byte(&mut rest).is_multiple_of(2),
                }
            }
            6 => Op::Open(byte(&mut rest)),
            _ => Op::Close(byte(&mut rest)),
        };
        ops.push(op);
    }
    Some((setup, ops))
}

/// The next byte (0 past the end).
fn byte(rest: &mut &[u8]) -> u8 {
    let (b, t) = rest.split_first().map_or((0, &[][..]), |(b, t)| (*b, t));
    *rest = t;
    b
}

/// The next two bytes, little-endian.
fn word(rest: &mut &[u8]) -> u16 {
    u16::from_le_bytes([byte(rest), byte(rest)])
}

/// The next `n` bytes, or what is left.
fn take(n: u16, rest: &mut &[u8]) -> Vec<u8> {
    let (a, b) = rest.split_at(usize::from(n).min(rest.len()));
    *rest = b;
    a.to_vec()
}

/// Writes `setup` and `ops` in the input format ([`decode`] reads it back).
pub fn encode(setup: Setup, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![
        setup.security
            | if setup.profile == Profile::EspIdf55 {
                0
            } else {
                4
            },
    ];
    let len = |b: &[u8]| (b.len().min(usize::from(u16::MAX)) as u16).to_le_bytes();
    for op in ops {
        match op {
            Op::Raw { ep, session, body } => {
                out.extend([0, *ep, *session]);
                out.extend(len(body));
                out.extend(body.iter().take(usize::from(u16::MAX)));
            }
            Op::Client { ep, plain } => {
                out.extend([3, *ep]);
                out.extend(len(plain));
                out.extend(plain.iter().take(usize::from(u16::MAX)));
            }
            Op::Advance(ms) => {
                out.push(4);
                out.extend(ms.to_le_bytes());
            }
            Op::Handshake { session, right } => out.extend([5, *session, u8::from(!right)]),
            Op::Open(s) => out.extend([6, *s]),
            Op::Close(s) => out.extend([7, *s]),
        }
    }
    out
}

/// The fuzz target `device`: Security 0 and 1 (config bit 0).
pub fn run(data: &[u8]) {
    run_with(data, |s| s & 1);
}

/// The fuzz target `device_sec2`: Security 2. Its own target because every SRP-6a handshake costs
/// several 3072-bit exponentiations (milliseconds), which would starve the other schemes of executions.
pub fn run_sec2(data: &[u8]) {
    run_with(data, |_| 2);
}

fn run_with(data: &[u8], scheme: fn(u8) -> u8) {
    let Some((mut setup, ops)) = decode(data) else {
        return;
    };
    setup.security = scheme(setup.security);
    let mut h = Harness::new(setup);
    let mut handshakes = 0;
    for op in ops.iter().take(MAX_OPS) {
        if matches!(op, Op::Handshake { .. }) {
            handshakes += 1;
            if handshakes > MAX_HANDSHAKES {
                continue;
            }
        }
        h.apply(op);
    }
    h.fresh_session_works();
}

/// The device and what the harness knows about it.
struct Harness {
    setup: Setup,
    dev: Device,
    now: Instant,
    endpoints: Vec<String>,
    /// Sessions a right handshake completed on.
    completed: BTreeSet<u32>,
    /// The last right handshake's session and cipher.
    ours: Option<(u32, Cipher)>,
}

impl Harness {
    fn new(setup: Setup) -> Self {
        let security = match setup.security {
            0 => Security::Sec0,
            1 => Security::Sec1 {
                pop: Some(Secret(POP.to_vec())),
            },
            _ => {
                // One verifier for the whole process: computing it is a 3072-bit exponentiation.
                static VERIFIER: OnceLock<Vec<u8>> = OnceLock::new();
                Security::Sec2 {
                    salt: SALT.to_vec(),
                    verifier: Secret(
                        VERIFIER
                            .get_or_init(|| srp::verifier(USER, POP, SALT))
                            .clone(),
                    ),
                    patch: Sec2Patch::V1,
                }
            }
        };
        let cfg = DeviceConfig {
            security,
            profile: setup.profile,
            custom_endpoints: vec![CustomEndpoint::echo("custom-data")],
            ..DeviceConfig::default()
        };
        let now = Instant::now();
        let dev = Device::new(cfg, Box::new(SeededRng::new(b"fuzz")), now);
        let mut endpoints: Vec<String> = dev.endpoints().iter().map(|e| e.name.clone()).collect();
        endpoints.push("no-such-endpoint".into());
        Self {
            setup,
            dev,
            now,
            endpoints,
            completed: BTreeSet::new(),
            ours: None,
        }
    }

    fn secured(&self) -> bool {
        self.setup.security > 0
    }

    fn endpoint(&self, ep: u8) -> String {
        self.endpoints[usize::from(ep) % self.endpoints.len()].clone()
    }

    /// A request and its reply, waiting for a deferred one as a transport would.
    fn call(&mut self, ep: &str, session: u32, body: &[u8]) -> Result<Vec<u8>, NoResponse> {
        let reply = self.dev.handle(ep, session, body, self.now);
        let reply = match reply {
            Ok(Reply::Ready(b)) => Ok(b),
            Ok(Reply::Deferred) => {
                let done = self.dev.advance(self.now, Until::Reply);
                self.now = done.now;
                self.check_events(done.events, false);
                done.replies
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Err(Reject::Busy.into()))
            }
            Err(e) => Err(e),
        };
        assert!(
            !matches!(&reply, Err(e) if e.why == Reject::Crashed),
            "the device crashed on {ep} (no misbehaviour is on)"
        );
        reply
    }

    /// Events since the last look; `SetupOk` only inside a right handshake.
    fn drain(&mut self, in_right_handshake: bool) {
        let mut events = Vec::new();
        while let Some(e) = self.dev.poll_event() {
            events.push(e);
        }
        self.check_events(events, in_right_handshake);
    }

    fn check_events(&self, events: Vec<DeviceEvent>, in_right_handshake: bool) {
        if !self.secured() || in_right_handshake {
            return;
        }
        for e in events {
            assert!(
                e != DeviceEvent::Security(SecurityEvent::SetupOk),
                "a secure session was established without the right credentials"
            );
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Raw { ep, session, body } => {
                let ep = self.endpoint(*ep);
                let session = u32::from(*session);
                let answer = self.call(&ep, session, body);
                self.drain(false);
                let encrypted = !matches!(ep.as_str(), "proto-ver" | "prov-session")
                    && ep != "no-such-endpoint";
                if self.secured() && encrypted && answer.is_ok() {
                    assert!(
                        self.completed.contains(&session),
                        "{ep} answered on session {session}, which no right handshake established"
                    );
                }
            }
            Op::Client { ep, plain } => {
                let ep = self.endpoint(*ep);
                let Some((session, mut cipher)) = self.ours.take() else {
                    return;
                };
                let body = cipher.encrypt(plain);
                let answer = self.call(&ep, session, &body);
                self.drain(false);
                if let (Ok(reply), Cipher::Gcm(_)) = (&answer, &cipher) {
                    if !matches!(ep.as_str(), "proto-ver" | "prov-session") {
                        assert!(
                            cipher.decrypt(reply).is_ok(),
                            "a Security 2 answer on {ep} does not authenticate"
                        );
                    }
                }
                self.ours = Some((session, cipher));
            }
            Op::Advance(ms) => {
                let to = self.now + Duration::from_millis(u64::from(*ms));
                let done = self.dev.advance(to, Until::At(to));
                self.now = done.now.max(to);
                self.check_events(done.events, false);
            }
            Op::Handshake { session, right } => {
                self.handshake(u32::from(*session), *right);
            }
            Op::Open(s) => {
                self.dev.open_session(u32::from(*s));
                self.drain(false);
            }
            Op::Close(s) => {
                self.dev.close_session(u32::from(*s));
                self.drain(false);
            }
        }
    }

    fn client(&self, right: bool) -> Option<Handshake> {
        let secret: &[u8] = if right { POP } else { b"not-the-secret" };
        match self.setup.security {
            0 => None,
            1 => Some(Handshake::Sec1(Box::new(Sec1Client::new(
                Some(secret.to_vec()),
                [0x5a; 32],
            )))),
            _ => Some(Handshake::Sec2(Box::new(Sec2Client::new(
                USER, secret, [0x33; 32],
            )))),
        }
    }

    /// A handshake as a client does it; returns whether it completed.
    fn handshake(&mut self, session: u32, right: bool) -> bool {
        let Some(mut hs) = self.client(right) else {
            // Security 0: the session is whatever the transport opened.
            self.completed.insert(session);
            self.ours = Some((session, Cipher::Plain));
            return true;
        };
        let result = hs.run(1, |body, _| self.call("prov-session", session, body));
        self.drain(right);
        match (result, right) {
            (Ok(cipher), true) => {
                self.completed.insert(session);
                self.ours = Some((session, cipher));
                true
            }
            (Ok(_), false) => panic!("a handshake with the wrong credentials completed"),
            (Err(_), _) => false,
        }
    }

    /// The end of every input: a fresh session completes and GetStatus answers, unless the device has
    /// legitimately stopped serving (provisioning ended) or is busy (a blocking scan after ApplyConfig
    /// never completes, spec §5.2).
    fn fresh_session_works(&mut self) {
        let done = self.dev.advance(self.now, Until::Reply);
        self.now = done.now;
        self.check_events(done.events, false);
        if !self.dev.is_running() || self.dev.is_busy() {
            return;
        }
        self.dev.open_session(FRESH);
        self.drain(false);
        assert!(
            self.handshake(FRESH, true),
            "a fresh session no longer completes after this input"
        );
        let Some((session, mut cipher)) = self.ours.take() else {
            return;
        };
        let body = cipher.encrypt(&prov_client::messages::get_status());
        let reply = self
            .call("prov-config", session, &body)
            .unwrap_or_else(|e| panic!("GetStatus on a fresh session: {e}"));
        let plain = cipher
            .decrypt(&reply)
            .unwrap_or_else(|e| panic!("GetStatus answer: {e}"));
        prov_client::messages::decode_resp_get_status(&plain)
            .unwrap_or_else(|e| panic!("GetStatus answer: {e}"));
    }
}

/// Seeds of `device` (`sec2` false) or `device_sec2`: every golden vector of those schemes as raw
/// operations (advances kept), plus a right handshake and a GetStatus through it for each profile.
pub fn seeds(vectors: &[vectors::schema::Scenario], sec2: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in vectors {
        let security = s.file.inputs.security;
        if (security == 2) != sec2 {
            continue;
        }
        let setup = Setup {
            security,
            profile: Profile::EspIdf55,
        };
        let probe = Harness::new(setup);
        let ops: Vec<Op> = s
            .steps
            .iter()
            .map(|st| match st {
                vectors::schema::Step::Request(r) => Op::Raw {
                    ep: probe
                        .endpoints
                        .iter()
                        .position(|e| *e == r.endpoint)
                        .unwrap_or(probe.endpoints.len() - 1) as u8,
                    session: r.session_id as u8,
                    body: r.request.clone(),
                },
                vectors::schema::Step::Advance(a) => {
                    Op::Advance(a.millis.min(u64::from(u16::MAX)) as u16)
                }
            })
            .collect();
        out.push(encode(setup, &ops));
    }
    let schemes: &[u8] = if sec2 { &[2] } else { &[0, 1] };
    for &security in schemes {
        for profile in [Profile::EspIdf55, Profile::NetworkProv12] {
            let setup = Setup { security, profile };
            let config_ep = Harness::new(setup)
                .endpoints
                .iter()
                .position(|e| e.ends_with("-config"))
                .unwrap_or(0) as u8;
            out.push(encode(
                setup,
                &[
                    Op::Open(1),
                    Op::Handshake {
                        session: 1,
                        right: true,
                    },
                    Op::Client {
                        ep: config_ep,
                        plain: prov_client::messages::get_status(),
                    },
                    Op::Handshake {
                        session: 2,
                        right: false,
                    },
                ],
            ));
        }
    }
    out
}
