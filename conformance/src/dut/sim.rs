//! The embedded simulator: provlab's `sim-device` runtime and transports, in this process. Every link
//! boots a fresh device, so cases are independent and run in parallel.
//!
//! The device is reached through the real transport code: the SoftAP HTTP server on a loopback port,
//! or the console line protocol over a socket pair, exactly as the `sim-device` binary serves them.

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use sim_device::misbehave::Misbehaviour;
use sim_device::runtime::world::{World, WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, DeviceHandle, SimOptions};
use sim_device::transport::http::HttpServer;
use sim_device::DeviceConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::http::HttpLink;
use super::line::{LineLink, LineOptions};
use super::Dut;
use crate::link::{Link, LinkError, Transport};

/// How each fresh device is made.
#[derive(Clone)]
pub struct SimSetup {
    /// Device configuration (security, profile, endpoints, misbehaviours).
    pub config: DeviceConfig,
    /// Radio environment.
    pub world: World,
    /// Randomness per boot; `None` = OS randomness.
    pub rng: Option<runtime::RngFactory>,
    /// Virtual time (golden replay): timers fire only when the replay advances the clock.
    pub virtual_clock: bool,
}

impl SimSetup {
    /// The simulator's defaults (as `sim-device` with no flags) for security `sec`, with `misbehave`.
    pub fn defaults(
        sec: u8,
        profile: sim_device::Profile,
        misbehave: &BTreeSet<Misbehaviour>,
    ) -> Result<Self, String> {
        let mut config = DeviceConfig {
            profile,
            ..DeviceConfig::default()
        };
        config.security = crate::dut::sim::security(sec)?;
        config.misbehave = misbehave.clone();
        // As the `sim-device` binary: one echo endpoint, the golden vectors' `custom-data`.
        config.custom_endpoints = vec![sim_device::CustomEndpoint::echo("custom-data")];
        let world = WorldFile::from_toml(DEFAULT_WORLD)?.to_world()?;
        Ok(Self {
            config,
            world,
            rng: None,
            virtual_clock: false,
        })
    }
}

/// The simulator's default security settings for scheme `sec` (PoP `abcd1234`; `wifiprov`/`abcd1234`).
pub fn security(sec: u8) -> Result<sim_device::Security, String> {
    use sim_device::{Sec2Patch, Secret, Security};
    Ok(match sec {
        0 => Security::Sec0,
        1 => Security::Sec1 {
            pop: Some(Secret(b"abcd1234".to_vec())),
        },
        2 => {
            let salt = [0x5a; 16];
            let verifier = crate::client::srp::verifier(b"wifiprov", b"abcd1234", &salt);
            Security::Sec2 {
                salt: salt.to_vec(),
                verifier: Secret(verifier),
                patch: Sec2Patch::V1,
            }
        }
        n => return Err(format!("security {n}: expected 0, 1 or 2")),
    })
}

/// The embedded simulator as a device under test.
pub struct SimDut {
    transport: Transport,
    setup: SimSetup,
    rt: Arc<Runtime>,
    label: String,
}

impl SimDut {
    /// A simulator reached over `transport` (HTTP or console), run on `rt`.
    pub fn new(transport: Transport, setup: SimSetup, rt: Arc<Runtime>, label: String) -> Self {
        Self {
            transport,
            setup,
            rt,
            label,
        }
    }
}

/// Stops the device's tasks when the link goes.
struct Tasks(Vec<JoinHandle<()>>, #[allow(dead_code)] DeviceHandle);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

impl Dut for SimDut {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn transport(&self) -> Transport {
        self.transport
    }

    fn fresh_per_connect(&self) -> bool {
        true
    }

    fn parallelism(&self) -> usize {
        8
    }

    fn connect(&self) -> Result<Box<dyn Link>, LinkError> {
        self.connect_with_handle().map(|(link, _)| link)
    }
}

impl SimDut {
    /// Opens a link and also returns the device's handle (for control operations such as advancing
    /// a virtual clock).
    pub fn connect_with_handle(&self) -> Result<(Box<dyn Link>, DeviceHandle), LinkError> {
        let setup = self.setup.clone();
        let unreachable = |e: String| LinkError::Unreachable(format!("simulator: {e}"));
        let _guard = self.rt.enter();
        let handle = runtime::spawn(SimOptions {
            device: setup.config,
            world: setup.world,
            store: None,
            seed: None,
            rng: setup.rng,
            virtual_clock: setup.virtual_clock,
        })
        .map_err(unreachable)?;
        match self.transport {
            Transport::Http => {
                let server = self
                    .rt
                    .block_on(HttpServer::bind(([127, 0, 0, 1], 0).into()))
                    .map_err(|e| unreachable(e.to_string()))?;
                let addr = server.local_addr();
                let task = self.rt.spawn(server.run(handle.clone()));
                let link = HttpLink::new(&addr.to_string(), LineOptions::default().timeout)?
                    .with_keep(Box::new(Tasks(vec![task], handle.clone())));
                Ok((Box::new(link), handle))
            }
            Transport::Console | Transport::Serial => {
                let (ours, theirs) = UnixStream::pair()?;
                theirs.set_nonblocking(true)?;
                let theirs = tokio::net::UnixStream::from_std(theirs)?;
                let h = handle.clone();
                let task = self.rt.spawn(async move {
                    let (r, w) = theirs.into_split();
                    let _ = sim_device::transport::console::serve(h, r, w).await;
                });
                let reader = ours.try_clone()?;
                let link = LineLink::new(
                    Transport::Console,
                    Box::new(reader),
                    Box::new(ours),
                    LineOptions::default(),
                    Box::new(Tasks(vec![task], handle.clone())),
                )?;
                Ok((Box::new(link), handle))
            }
        }
    }
}
