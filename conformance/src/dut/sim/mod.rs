//! The embedded simulator: provlab's `sim-device` runtime and transports, in this process. Every link
//! boots a fresh device, so cases are independent and run in parallel.
//!
//! The device is reached through the real transport code (the SoftAP HTTP server on a loopback port,
//! the console line protocol over a socket pair, the BLE GATT peripheral on a BlueZ adapter of its own,
//! `ble`) exactly as the `sim-device` binary serves them, or with no transport at all
//! ([`memory`](super::memory)). It also boots devices from a golden recording ([`Boot::Recording`]):
//! configured as the recording's oracle, with its device randomness injected and a virtual clock, so the
//! replay is byte-exact.

mod ble;

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use sim_device::config::example;
use sim_device::misbehave::Misbehaviour;
use sim_device::runtime::world::{World, WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, Board, ControlOp, DeviceHandle, SimOptions};
use sim_device::transport::http::HttpServer;
use sim_device::DeviceConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use self::ble::SimBle;
use super::http::HttpLink;
use super::line::{LineLink, LineOptions};
use super::memory::MemoryLink;
use super::{Boot, Dut};
use crate::link::{Access, Link, LinkError, Transport};
use crate::model::Answer;

/// How each fresh device is made.
#[derive(Clone)]
pub struct SimSetup {
    /// Device configuration (security, profile, endpoints, misbehaviours).
    pub config: DeviceConfig,
    /// Radio environment.
    pub world: World,
    /// Randomness per boot; `None` = OS randomness.
    pub rng: Option<runtime::RngFactory>,
    /// Virtual time: timers fire only when a case lets time pass ([`Link::pause`]).
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
        // A fixed salt keeps runs reproducible (the binary draws one).
        config.security = sim_device::Security::example(sec, &[0x5a; 16])
            .ok_or_else(|| format!("security {sec}: expected 0, 1 or 2"))?;
        config.misbehave = misbehave.clone();
        // As the `sim-device` binary: one echo endpoint, the golden vectors' `custom-data`.
        config.custom_endpoints = vec![sim_device::CustomEndpoint::echo(example::CUSTOM_ENDPOINT)];
        let world = WorldFile::from_toml(DEFAULT_WORLD)?.to_world()?;
        Ok(Self {
            config,
            world,
            rng: None,
            virtual_clock: false,
        })
    }

    /// A device as the oracle of `scenario` was: its inputs, its Wi-Fi world, its recorded device
    /// randomness injected, on a virtual clock; with `misbehave` (the self-check's defects).
    pub fn recording(
        scenario: &vectors::Scenario,
        misbehave: &BTreeSet<Misbehaviour>,
    ) -> Result<Self, String> {
        let file = &scenario.file;
        let mut config = vectors::setup::device_config(&file.inputs)?;
        config.misbehave = misbehave.clone();
        let draws = vectors::setup::recorded_draws(file)?;
        let rng = vectors::setup::recorded_rng(&draws);
        let world = World {
            wifi: config.wifi.clone(),
            reply_latency: Duration::ZERO,
        };
        let factory: runtime::RngFactory =
            Arc::new(move |_boot| Box::new(rng.clone()) as Box<dyn sim_device::DeviceRng>);
        Ok(Self {
            config,
            world,
            rng: Some(factory),
            virtual_clock: true,
        })
    }

    fn options(self, virtual_clock: bool) -> SimOptions {
        SimOptions {
            device: self.config,
            world: self.world,
            store: None,
            seed: None,
            rng: self.rng,
            virtual_clock: self.virtual_clock || virtual_clock,
            event_history: sim_device::runtime::DEFAULT_HISTORY,
        }
    }
}

/// The embedded simulator as a device under test.
pub struct SimDut {
    transport: Transport,
    setup: SimSetup,
    rt: Arc<Runtime>,
    label: String,
    ble: Option<SimBle>,
}

impl SimDut {
    /// A simulator reached over `transport` (HTTP, console or memory), run on `rt`.
    pub fn new(transport: Transport, setup: SimSetup, rt: Arc<Runtime>, label: String) -> Self {
        Self {
            transport,
            setup,
            rt,
            label,
            ble: None,
        }
    }

    /// Sets up the BLE side (the process's BLE client, opened on first use): the stack the device
    /// models and the client's settings. Needed before BLE links can be opened.
    pub fn with_ble(mut self, ble: &crate::description::Ble) -> Result<Self, String> {
        self.ble = Some(SimBle::new(ble)?);
        Ok(self)
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
        match self.transport {
            // Pure computation on virtual time: one case per core.
            Transport::Memory => std::thread::available_parallelism().map_or(2, |n| n.get()),
            // As many BLE devices as other ones: each has an adapter and D-Bus connections of its own
            // (host.rs) and unregisters before its adapter is reused; most of a case's time is the
            // device's simulated delays, not the bus.
            _ => 8,
        }
    }

    fn boots_recordings(&self) -> bool {
        true
    }

    fn connect(&self, boot: &Boot) -> Result<Box<dyn Link>, LinkError> {
        let unreachable = |e: String| LinkError::Unreachable(format!("simulator: {e}"));
        let setup = match boot {
            Boot::Standard => self.setup.clone(),
            Boot::Recording(scenario) => {
                SimSetup::recording(scenario, &self.setup.config.misbehave).map_err(unreachable)?
            }
        };
        if self.transport == Transport::Memory {
            let board = Board::boot(setup.options(true)).map_err(unreachable)?;
            return Ok(Box::new(MemoryLink::new(board)));
        }
        let virtual_clock = setup.virtual_clock;
        let _guard = self.rt.enter();
        let handle = runtime::spawn(setup.options(false)).map_err(unreachable)?;
        let link: Box<dyn Link> = match self.transport {
            Transport::Http => {
                let server = self
                    .rt
                    .block_on(HttpServer::bind(([127, 0, 0, 1], 0).into()))
                    .map_err(|e| unreachable(e.to_string()))?;
                let addr = server.local_addr();
                let task = self.rt.spawn(server.run(handle.clone()));
                Box::new(
                    HttpLink::new(&addr.to_string(), LineOptions::default().timeout)?
                        .with_keep(Box::new(Tasks(vec![task], handle.clone()))),
                )
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
                Box::new(LineLink::new(
                    Transport::Console,
                    Box::new(reader),
                    Box::new(ours),
                    LineOptions::default(),
                    Box::new(Tasks(vec![task], handle.clone())),
                )?)
            }
            Transport::Ble => {
                let ble = self.ble.as_ref().ok_or_else(|| {
                    unreachable(
                        "no BLE client set up (suite bug: SimDut::with_ble not called)".into(),
                    )
                })?;
                ble::connect(ble, &self.rt, &handle)?
            }
            Transport::Memory => {
                return Err(unreachable(
                    "a memory link has no transport (suite bug)".into(),
                ))
            }
        };
        let first_boot = handle.status().borrow().boot;
        Ok(Box::new(SimLink {
            link,
            handle,
            rt: self.rt.clone(),
            virtual_clock,
            first_boot,
        }))
    }
}

/// A transport link to the embedded simulator, which the suite can see into: on virtual time
/// [`Link::pause`] moves the device's clock instead of sleeping, and the device task's boot count tells
/// a reboot (a crash).
struct SimLink {
    link: Box<dyn Link>,
    handle: DeviceHandle,
    rt: Arc<Runtime>,
    virtual_clock: bool,
    first_boot: u64,
}

impl Link for SimLink {
    fn transport(&self) -> Transport {
        self.link.transport()
    }

    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        self.link.request(endpoint, body)
    }

    fn new_session(&mut self) -> Result<(), LinkError> {
        self.link.new_session()
    }

    fn session(&self) -> u32 {
        self.link.session()
    }

    fn access(&mut self) -> Access<'_> {
        self.link.access()
    }

    fn pause(&mut self, d: Duration) -> Result<(), LinkError> {
        if !self.virtual_clock {
            return self.link.pause(d);
        }
        self.rt
            .block_on(self.handle.control(ControlOp::Advance(d)))
            .map(drop)
            .map_err(LinkError::Gone)
    }

    fn virtual_time(&self) -> bool {
        self.virtual_clock
    }

    fn crash_evidence(&mut self) -> Option<String> {
        let boots = self.handle.status().borrow().boot - self.first_boot;
        if boots > 0 {
            return Some(format!("the simulator rebooted {boots} time(s)"));
        }
        self.link.crash_evidence()
    }
}
