//! `sim-device`: a virtual ESP32 running Espressif unified provisioning, reachable over the SoftAP HTTP
//! scheme or the console line protocol. The knobs are the ones an ESP-IDF developer sets in menuconfig and
//! in the `wifi_prov_mgr` example; `--help` lists them.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand_core::RngCore;

use prov_client::srp;
use sim_device::config::example;
use sim_device::runtime::banner::{self, EspProvArgs, QrInfo};
use sim_device::runtime::store::CredentialStore;
use sim_device::runtime::world::{parse_mac, WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, SimOptions};
use sim_device::transport;
use sim_device::{
    Credentials, CustomEndpoint, DeviceConfig, Misbehaviour, Profile, Sec2Patch, Secret, Security,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    /// HTTP on `--listen`, as the SoftAP scheme (phones and esp_prov use 192.168.4.1:80).
    Softap,
    /// `<endpoint> <session> <hex>` lines on stdin/stdout (or a pty with --console-pty).
    Console,
    /// A BLE GATT peripheral through BlueZ (bluetoothd, or bluez-loopback via DBUS_SYSTEM_BUS_ADDRESS).
    Ble,
}

/// `--console-line-max`: the line buffer, CR included.
fn console_options(args: &Args) -> transport::console::ConsoleOptions {
    transport::console::ConsoleOptions {
        line_buf: match args.console_line_max {
            0 => usize::MAX,
            n => n.saturating_add(1),
        },
    }
}

/// `--profile`: a family the simulator reproduces.
fn parse_profile(s: &str) -> Result<Profile, String> {
    let p: Profile = s.parse()?;
    if !p.simulated() {
        let names: Vec<_> = Profile::SIMULATED.iter().map(|p| p.name()).collect();
        return Err(format!(
            "the simulator does not model {p} yet; it reproduces {}",
            names.join(" and ")
        ));
    }
    Ok(p)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// A virtual ESP32 that Espressif's provisioning clients (esp_prov, the phone apps) provision unchanged.
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// How clients reach the device.
    #[arg(long, value_enum, default_value = "softap")]
    transport: TransportArg,
    /// Protocomm security scheme: 0 none, 1 X25519 + PoP + AES-CTR, 2 SRP-6a + AES-GCM.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=2))]
    security: u32,
    /// Security 1 proof of possession.
    #[arg(long, default_value = example::POP, conflicts_with = "no_pop")]
    pop: String,
    /// Security 1 without a proof of possession (the `no_pop` capability).
    #[arg(long)]
    no_pop: bool,
    /// Security 2 username (salt and verifier are derived).
    #[arg(long, default_value = example::SEC2_USERNAME)]
    sec2_username: String,
    /// Security 2 password (salt and verifier are derived; the device keeps only those).
    #[arg(long, default_value = example::SEC2_PASSWORD)]
    sec2_password: String,
    /// Security 2 salt in hex, instead of deriving it (needs --sec2-verifier).
    #[arg(long, requires = "sec2_verifier")]
    sec2_salt: Option<String>,
    /// Security 2 verifier in hex, instead of deriving it (needs --sec2-salt).
    #[arg(long, requires = "sec2_salt")]
    sec2_verifier: Option<String>,
    /// Security 2 IV rule: 1 = random prefix + counter (current), 0 = legacy fixed IV.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    sec_patch_ver: u32,
    /// Firmware family to reproduce: esp-idf-5.5 (ESP-IDF v5.5 wifi_provisioning, the golden vectors)
    /// or network-prov-1.2 (idf-extra-components network_provisioning 1.2).
    #[arg(long, default_value = "esp-idf-5.5", value_parser = parse_profile)]
    profile: Profile,
    /// Station MAC address (the service name is derived from its last 3 bytes).
    #[arg(long, default_value = "24:0a:c4:a1:b2:c3")]
    mac: String,
    /// Service name (SoftAP SSID); default `PROV_` + the last 3 MAC bytes.
    #[arg(long)]
    service_name: Option<String>,
    /// HTTP address (SoftAP transport). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Control channel address (HTTP/JSON: state, events, reboot, factory reset, world changes).
    #[arg(long, default_value = "127.0.0.1:8081", conflicts_with = "no_control")]
    control: SocketAddr,
    /// Do not open the control channel.
    #[arg(long)]
    no_control: bool,
    #[command(flatten)]
    ble: transport::ble::BleArgs,
    /// Console transport on a new pseudo-terminal (its path is printed) instead of stdin/stdout.
    #[arg(long)]
    console_pty: bool,
    /// Usable characters per console line: ESP-IDF's 255 (LINE_BUF_SIZE 256 with the CR), more for a
    /// host build or another stack whose console takes Security 2's 830-character lines; 0 = no limit.
    #[arg(long, value_name = "N", default_value_t = 255)]
    console_line_max: usize,
    /// World file (TOML): access points, faults, latencies. Default: sim-device/worlds/default.toml.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Directory for persisted credentials (the device's NVS). Without it, nothing survives the process.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Erase persisted credentials before booting (factory reset).
    #[arg(long, requires = "state_dir")]
    reset_provisioning: bool,
    /// Connection attempts before reporting failure (0 = ESP-IDF's legacy behaviour).
    #[arg(long, default_value_t = 0)]
    wifi_conn_attempts: u32,
    /// Keep the service running after success (enables CtrlReprov, as in the example).
    #[arg(long)]
    no_auto_stop: bool,
    /// Name of the echo custom endpoint (esp_prov --custom_data uses `custom-data`).
    #[arg(
        long,
        default_value = example::CUSTOM_ENDPOINT,
        conflicts_with = "no_custom_endpoint"
    )]
    custom_endpoint: String,
    /// Register no custom endpoint.
    #[arg(long)]
    no_custom_endpoint: bool,
    /// Seed all device randomness (keys, nonces, cookies) for reproducible runs. Testing only.
    #[arg(long, value_name = "HEX")]
    seed: Option<String>,
    /// Log line format (logs go to stderr; filter with RUST_LOG, e.g. RUST_LOG=debug).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Stress the credential store: rewrite credentials in --state-dir forever (crash-safety tests).
    #[arg(long, hide = true, requires = "state_dir")]
    debug_store_writes: bool,
    /// Reproduce a known firmware defect NAME (repeatable; names: --list-misbehaviours). For testing
    /// conformance suites; never use otherwise.
    #[arg(long, value_name = "NAME", value_parser = parse_misbehaviour)]
    misbehave: Vec<Misbehaviour>,
    /// Print every --misbehave NAME with what it does, then exit.
    #[arg(long)]
    list_misbehaviours: bool,
}

fn parse_misbehaviour(name: &str) -> Result<Misbehaviour, String> {
    Misbehaviour::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Misbehaviour::ALL.iter().map(|m| m.name()).collect();
        format!("unknown misbehaviour; valid names: {}", names.join(", "))
    })
}

const AFTER_HELP: &str = "\
Examples:
  sim-device --security 1 --pop abcd1234
  sim-device --security 2 --sec2-username wifiprov --sec2-password abcd1234 --state-dir /tmp/dev1
  sim-device --transport console --security 1 --no-pop
  sudo ip netns exec softap sim-device --listen 192.168.4.1:80   (where phones and esp_prov look)

Control channel (default http://127.0.0.1:8081):
  GET /state   GET /events?since=N   GET /world   PUT /world (JSON)
  POST /reboot   POST /factory-reset   POST /ap/<ssid>/down   POST /ap/<ssid>/up
  POST /fail-next-connect?reason=auth-fail";

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_misbehaviours {
        for m in Misbehaviour::ALL {
            println!("{:<26}{}", m.name(), m.description());
        }
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_format);
    // Over BLE everything runs on one thread: dbus-tokio 0.7 fails a D-Bus call ("Failed to send
    // message", although it goes out) when two threads queue messages before its I/O task has run.
    let mut builder = if matches!(args.transport, TransportArg::Ble) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sim-device: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim-device: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn security(args: &Args) -> Result<Security> {
    Ok(match args.security {
        0 => Security::Sec0,
        1 => Security::Sec1 {
            pop: (!args.no_pop).then(|| Secret(args.pop.as_bytes().to_vec())),
        },
        _ => {
            let (salt, verifier) = match (&args.sec2_salt, &args.sec2_verifier) {
                (Some(s), Some(v)) => (
                    hex::decode(s).context("--sec2-salt is not hex")?,
                    hex::decode(v).context("--sec2-verifier is not hex")?,
                ),
                _ => {
                    // A salt starting with 0x00 loses that byte in esp_prov's long_to_bytes round trip and
                    // the proof fails: draw again, as a real provisioning backend would have to.
                    let mut salt = [0u8; 16];
                    while salt[0] == 0 {
                        rand_core::OsRng.fill_bytes(&mut salt);
                    }
                    let v = srp::verifier(
                        args.sec2_username.as_bytes(),
                        args.sec2_password.as_bytes(),
                        &salt,
                    );
                    (salt.to_vec(), v)
                }
            };
            if salt.is_empty() || verifier.is_empty() {
                bail!("--sec2-salt and --sec2-verifier must not be empty");
            }
            Security::Sec2 {
                salt,
                verifier: Secret(verifier),
                patch: if args.sec_patch_ver == 0 {
                    Sec2Patch::V0
                } else {
                    Sec2Patch::V1
                },
            }
        }
    })
}

async fn run(args: Args) -> Result<()> {
    let mac = parse_mac(&args.mac).map_err(anyhow::Error::msg)?;
    let name = args
        .service_name
        .clone()
        .unwrap_or_else(|| banner::service_name(&mac));
    if name.is_empty() || name.len() > 32 {
        bail!("--service-name must be 1 to 32 bytes (it is the SoftAP SSID)");
    }
    let world_file = match &args.world {
        Some(p) => WorldFile::load(p).map_err(anyhow::Error::msg)?,
        None => WorldFile::from_toml(DEFAULT_WORLD).map_err(anyhow::Error::msg)?,
    };
    let world = world_file.to_world().map_err(anyhow::Error::msg)?;
    let store = match &args.state_dir {
        Some(d) => Some(CredentialStore::open(d)?),
        None => None,
    };
    if let Some(store) = &store {
        if args.debug_store_writes {
            return store_writes_forever(store);
        }
        if args.reset_provisioning {
            store.erase()?;
            tracing::info!(dir = %store.path().display(), "factory reset: credentials erased");
        }
    }
    let seed = match &args.seed {
        Some(s) => Some(hex::decode(s).context("--seed is not hex")?),
        None => None,
    };
    let device = DeviceConfig {
        security: security(&args)?,
        profile: args.profile,
        auto_stop: !args.no_auto_stop,
        wifi_conn_attempts: args.wifi_conn_attempts,
        custom_endpoints: if args.no_custom_endpoint {
            Vec::new()
        } else {
            vec![CustomEndpoint::echo(&args.custom_endpoint)]
        },
        misbehave: args.misbehave.iter().copied().collect(),
        ..DeviceConfig::default()
    };
    for m in &device.misbehave {
        eprintln!(
            "WARNING: MISBEHAVING ON PURPOSE (--misbehave {m}): {}. For testing conformance suites; \
             never use otherwise.",
            m.description()
        );
    }
    let handle = runtime::spawn(SimOptions {
        device,
        world,
        store,
        seed,
        rng: None,
        virtual_clock: false,
    })
    .map_err(anyhow::Error::msg)?;

    let control = if args.no_control {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(args.control)
            .await
            .with_context(|| {
                format!(
                    "cannot open the control channel on {} (choose another with --control ADDR, or --no-control)",
                    args.control
                )
            })?;
        let addr = listener.local_addr()?;
        let h = handle.clone();
        tokio::spawn(async move {
            if let Err(e) = runtime::control::serve(h, listener).await {
                tracing::error!(error = %e, "control channel stopped");
            }
        });
        Some(addr)
    };

    let mut out = String::new();
    match args.transport {
        TransportArg::Softap => {
            let server = transport::http::HttpServer::bind(args.listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {} (choose another with --listen ADDR; port 80 needs root or a network namespace)",
                        args.listen
                    )
                })?;
            let addr = server.local_addr();
            describe(&args, &name, Wire::Http(addr), control, &mut out);
            provisioned_note(&handle, &args, &mut out);
            print!("{out}");
            let h = handle.clone();
            tokio::spawn(async move { server.run(h).await });
            wait_for_exit().await;
        }
        TransportArg::Ble => run_ble(&args, &name, control, handle, out).await?,
        TransportArg::Console => {
            describe(&args, &name, Wire::Console, control, &mut out);
            provisioned_note(&handle, &args, &mut out);
            if args.console_pty {
                let path = transport::pty::spawn_console(handle.clone(), console_options(&args))
                    .context("cannot open a pseudo-terminal")?;
                eprint!("{out}");
                eprintln!(
                    "Console on {} (CR-terminated lines; e.g. picocom -b 115200 {0})",
                    path.display()
                );
                wait_for_exit().await;
            } else {
                eprint!("{out}");
                eprintln!("Console on stdin/stdout: `<endpoint> <session-id> <hex>` lines, CR-terminated.");
                // A terminal would turn Enter into LF and echo locally; the device echoes and wants CR.
                let _terminal = TerminalMode::device_like();
                tokio::select! {
                    r = transport::console::serve_with(handle.clone(), tokio::io::stdin(), tokio::io::stdout(), console_options(&args)) => r?,
                    () = wait_for_exit() => {}
                }
            }
        }
    }
    Ok(())
}

/// The BLE transport: connect to BlueZ, register, print the banner, serve until Ctrl-C.
async fn run_ble(
    args: &Args,
    name: &str,
    control: Option<SocketAddr>,
    handle: runtime::DeviceHandle,
    mut out: String,
) -> Result<()> {
    use std::fmt::Write as _;
    let opts = args
        .ble
        .options(name, args.security)
        .map_err(anyhow::Error::msg)?;
    let uuid = opts.service_uuid;
    let ble = transport::ble::BleTransport::open(opts).await?;
    let adapter = ble.adapter_name().to_owned();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(ble.run(handle.clone(), ready_tx));
    match ready.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!(e),
        Err(_) => bail!("the BLE transport ended before registering"),
    }
    describe(args, name, Wire::Ble, control, &mut out);
    provisioned_note(&handle, args, &mut out);
    let _ = writeln!(out, "BLE on {adapter} as {name} (service {uuid})");
    print!("{out}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    wait_for_exit().await;
    Ok(())
}

/// How clients reach the device, for the banner.
#[derive(Clone, Copy)]
enum Wire {
    Http(SocketAddr),
    Ble,
    Console,
}

fn describe(args: &Args, name: &str, wire: Wire, control: Option<SocketAddr>, out: &mut String) {
    use std::fmt::Write as _;
    let sec2 =
        (args.security == 2).then_some((args.sec2_username.as_str(), args.sec2_password.as_str()));
    let pop = match args.security {
        1 if !args.no_pop => Some(args.pop.as_str()),
        2 if args.sec2_salt.is_none() => Some(args.sec2_password.as_str()),
        _ => None,
    };
    let _ = writeln!(
        out,
        "sim-device {}: virtual ESP32, unified provisioning",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "Service name: {name}");
    let _ = writeln!(
        out,
        "Security: {}{}",
        args.security,
        match args.security {
            1 if args.no_pop => " (no PoP)".to_owned(),
            2 => format!(" (patch {})", args.sec_patch_ver),
            _ => String::new(),
        }
    );
    let transport = match wire {
        Wire::Http(_) => "softap",
        Wire::Ble => "ble",
        Wire::Console => "",
    };
    if !transport.is_empty() {
        let payload = banner::qr_payload(&QrInfo {
            name,
            transport,
            pop,
            username: sec2.map(|s| s.0),
        });
        let _ = writeln!(out, "QR payload: {payload}");
        if let Some(qr) = banner::qr_text(&payload) {
            let _ = writeln!(out, "{qr}");
        }
        let _ = writeln!(
            out,
            "If the QR code is not visible, open: {}",
            banner::qr_link(&payload)
        );
    }
    if let Wire::Http(addr) = wire {
        let _ = writeln!(out, "SoftAP HTTP on http://{addr}");
        let pargs = banner::esp_prov_args(&EspProvArgs {
            addr,
            sec_ver: args.security,
            pop: (args.security == 1 && !args.no_pop).then_some(args.pop.as_str()),
            sec2: sec2.filter(|_| args.sec2_salt.is_none()),
        });
        let joined: Vec<String> = pargs.iter().map(|a| banner::shell_quote(a)).collect();
        let _ = writeln!(
            out,
            "Provision it with esp_prov:\n  cargo xtask esp-prov {}",
            joined.join(" ")
        );
    }
    if let Some(c) = control {
        let _ = writeln!(out, "Control on http://{c}");
    }
}

/// Puts an interactive stdin into the mode a serial monitor uses (no line editing, no local echo, CR
/// kept as CR; Ctrl-C still works) and restores it on drop. Does nothing when stdin is not a terminal.
struct TerminalMode(Option<nix::sys::termios::Termios>);

impl TerminalMode {
    fn device_like() -> Self {
        use nix::sys::termios::{tcgetattr, tcsetattr, InputFlags, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self(None);
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ECHONL);
        raw.input_flags
            .remove(InputFlags::ICRNL | InputFlags::INLCR);
        match tcsetattr(&stdin, SetArg::TCSANOW, &raw) {
            Ok(()) => Self(Some(saved)),
            Err(_) => Self(None),
        }
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// A provisioned device skips provisioning (spec §6.3): say so, and how to start over.
fn provisioned_note(handle: &runtime::DeviceHandle, args: &Args, out: &mut String) {
    use std::fmt::Write as _;
    let status = handle.status();
    let s = status.borrow();
    if s.provisioned && !s.serving {
        let dir = args
            .state_dir
            .as_ref()
            .map_or_else(String::new, |d| format!(" in {}", d.display()));
        let _ = writeln!(
            out,
            "Already provisioned (credentials{dir}): joining the network as a station; provisioning is not \
             running, so the transport stays down.\nStart over with --reset-provisioning or POST /factory-reset."
        );
    }
}

async fn wait_for_exit() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Alternate two credential sets forever; a test kills the process at random instants and checks the store.
fn store_writes_forever(store: &CredentialStore) -> Result<()> {
    let sets = [
        Credentials {
            ssid: b"alpha-network".to_vec(),
            passphrase: vec![b'a'; 63],
        },
        Credentials {
            ssid: b"beta".to_vec(),
            passphrase: b"bbbbbbbb".to_vec(),
        },
    ];
    println!("writing");
    for i in 0.. {
        store.save(&sets[i % 2])?;
    }
    Ok(())
}
