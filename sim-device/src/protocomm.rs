//! protocomm: the endpoint registry and request dispatch (spec §1.1, §1.2).
//!
//! Three endpoint classes: `proto-ver` (plaintext, body ignored), `prov-session` (handed to the security
//! scheme) and data endpoints (decrypted, handled, encrypted). A failure anywhere yields no response bytes;
//! with Security 1 the keystream consumed by the decryption stays consumed, with Security 2 the counter
//! advanced by a successful decryption stays advanced — exactly as in ESP-IDF.
//!
//! A handler may defer its answer (a blocking scan): protocomm then remembers the session and, once the
//! manager has finished, produces the encrypted answer itself (`Protocomm::poll_deferred`); until then
//! every request is refused as [`Reject::Busy`], since ESP-IDF's transport task is blocked in the handler.

use std::time::Instant;

use crate::config::{CustomBehaviour, DeviceConfig};
use crate::error::{NoResponse, Reject};
use crate::event::DeviceEvent;
use crate::handlers::{self, Reply};
use crate::manager::Manager;
use crate::misbehave::Misbehaviour;
use crate::rng::DeviceRng;
use crate::security::SecurityLayer;
use crate::SessionId;

/// How protocomm treats an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// `proto-ver`.
    Version,
    /// `prov-session`.
    Session,
    /// `prov-config`.
    Config,
    /// `prov-scan`.
    Scan,
    /// `prov-ctrl`.
    Ctrl,
    /// An application endpoint.
    Custom(CustomBehaviour),
}

/// A registered endpoint as transports see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Name (HTTP path without `/`, BLE 0x2901 description, console command).
    pub name: String,
    /// The 16-bit id ESP-IDF puts in bytes 12–13 of the BLE characteristic UUID (spec §4.2.1).
    pub ble_id: u16,
    /// Class and handler.
    pub kind: EndpointKind,
}

pub(crate) struct Protocomm {
    endpoints: Vec<Endpoint>,
    version: Vec<u8>,
    security: SecurityLayer,
    /// The session whose request waits for a deferred answer.
    deferred: Option<SessionId>,
}

impl Protocomm {
    pub(crate) fn new(cfg: &DeviceConfig) -> Self {
        // BLE ids are assigned in this order at init: prov-ctrl, prov-scan, prov-session, prov-config,
        // proto-ver, then custom endpoints in creation order.
        let mut endpoints = vec![
            ("prov-ctrl", EndpointKind::Ctrl),
            ("prov-scan", EndpointKind::Scan),
            ("prov-session", EndpointKind::Session),
            ("prov-config", EndpointKind::Config),
            ("proto-ver", EndpointKind::Version),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .chain(
            cfg.custom_endpoints
                .iter()
                .map(|c| (c.name.clone(), EndpointKind::Custom(c.behaviour.clone()))),
        )
        .zip(0xFF4Fu16..)
        .map(|((name, kind), ble_id)| Endpoint { name, ble_id, kind })
        .collect::<Vec<_>>();
        // A later registration under an existing name replaces nothing: the first one wins, as lookups do.
        let mut seen = std::collections::HashSet::new();
        endpoints.retain(|e| seen.insert(e.name.clone()));
        let omit_patch = cfg.misbehave.contains(&Misbehaviour::MissingSecPatchVer);
        let version =
            handlers::ver::version_json(cfg.profile, &cfg.security, &cfg.app_info, omit_patch)
                .into_bytes();
        Self {
            endpoints,
            version,
            security: SecurityLayer::new(
                cfg.security.clone(),
                cfg.profile,
                &cfg.misbehave,
                cfg.max_sessions,
            ),
            deferred: None,
        }
    }

    /// `new_transport_session`: close any secure session, open `id` fresh.
    pub(crate) fn open_session(&mut self, id: SessionId) {
        self.security.open_session(id);
    }

    /// `close_transport_session`: only the open session closes.
    pub(crate) fn close_session(&mut self, id: SessionId) {
        self.security.close_session(id);
    }

    /// The id of the open secure session, if any.
    pub(crate) fn session_id(&self) -> Option<SessionId> {
        self.security.session_id()
    }

    /// Whether a request waits for a deferred answer.
    pub(crate) fn is_busy(&self) -> bool {
        self.deferred.is_some()
    }

    /// The deferred answer, once ready: the blocking scan is over (encrypted for the waiting session),
    /// or the service stopped under the waiting request (the transport is gone).
    pub(crate) fn poll_deferred(
        &mut self,
        mgr: &mut Manager,
    ) -> Option<Result<Vec<u8>, NoResponse>> {
        let session = self.deferred?;
        let answer = match handlers::scan::blocking_scan_answer(mgr) {
            Some(plain) => self.security.encrypt(session, &plain),
            None if !mgr.running() => Err(Reject::ServiceStopped.into()),
            None => return None,
        };
        self.deferred = None;
        Some(answer)
    }

    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub(crate) fn version(&self) -> &[u8] {
        &self.version
    }

    /// `protocomm_req_handle()`.
    pub(crate) fn req_handle(
        &mut self,
        mgr: &mut Manager,
        rng: &mut dyn DeviceRng,
        endpoint: &str,
        session: SessionId,
        request: &[u8],
        now: Instant,
    ) -> Result<Reply, NoResponse> {
        if self.deferred.is_some() {
            return Err(Reject::Busy.into());
        }
        let kind = self
            .endpoints
            .iter()
            .find(|e| e.name == endpoint)
            .map(|e| e.kind.clone())
            .ok_or(Reject::UnknownEndpoint)?;
        let reply = match kind {
            EndpointKind::Version => Ok(Reply::Ready(self.version.clone())),
            EndpointKind::Session => {
                let mut events = Vec::new();
                let result = self.security.handshake(session, request, rng, &mut events);
                for e in events {
                    mgr.push_event(DeviceEvent::Security(e));
                }
                result.map(Reply::Ready)
            }
            EndpointKind::Config => data(&mut self.security, session, request, |p| {
                handlers::config::prov_config(mgr, p, now)
            }),
            EndpointKind::Scan => data(&mut self.security, session, request, |p| {
                handlers::scan::prov_scan(mgr, p, now)
            }),
            EndpointKind::Ctrl => data(&mut self.security, session, request, |p| {
                handlers::ctrl::prov_ctrl(mgr, p)
            }),
            EndpointKind::Custom(b) => data(&mut self.security, session, request, |p| {
                handlers::custom::custom_endpoint(&b, p)
            }),
        };
        if reply == Ok(Reply::Deferred) {
            self.deferred = Some(session);
        }
        reply
    }
}

/// A data endpoint: decrypt, run the handler, encrypt its answer.
fn data(
    security: &mut SecurityLayer,
    session: SessionId,
    request: &[u8],
    handler: impl FnOnce(&[u8]) -> Result<Reply, NoResponse>,
) -> Result<Reply, NoResponse> {
    let plain = security.decrypt(session, request)?;
    match handler(&plain)? {
        Reply::Ready(p) => security.encrypt(session, &p).map(Reply::Ready),
        Reply::Deferred => Ok(Reply::Deferred),
    }
}
