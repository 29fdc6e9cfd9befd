//! The command line: every knob, as an ESP-IDF developer sets it in menuconfig and in the
//! `wifi_prov_mgr` example, and what follows from it (the security scheme, the console's framing).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand_core::RngCore;

use prov_client::srp;
use sim_device::config::example;
use sim_device::runtime::uart::rom::Chip;
use sim_device::transport;
use sim_device::{Misbehaviour, Profile, Sec2Patch, Secret, Security};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    /// HTTP on `--listen`, as the SoftAP scheme (phones and esp_prov use 192.168.4.1:80).
    Softap,
    /// `<endpoint> <session> <hex>` lines on stdin/stdout (or a pty with --console-pty).
    Console,
    /// A BLE GATT peripheral through BlueZ (bluetoothd, or bluez-loopback via DBUS_SYSTEM_BUS_ADDRESS).
    Ble,
}

/// `--limits`: a named set of server limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LimitsArg {
    /// protocomm_httpd's and ESP-IDF's security layer's.
    Chip,
    /// For load tests.
    Load,
}

/// The HTTP server's limits from `--limits` and its overrides.
pub(crate) fn http_limits(args: &Args) -> transport::http::HttpLimits {
    let mut l = match args.limits {
        LimitsArg::Chip => transport::http::HttpLimits::CHIP,
        LimitsArg::Load => transport::http::HttpLimits::LOAD,
    };
    if let Some(n) = args.http_max_sockets {
        l.max_open_sockets = n.max(1);
    }
    if let Some(n) = args.http_max_sockets_per_peer {
        l.max_sockets_per_peer = n.max(1);
    }
    if let Some(s) = args.http_recv_timeout {
        l.recv_timeout = std::time::Duration::from_secs_f64(s.clamp(0.001, 3600.0));
    }
    if let Some(n) = args.max_sessions {
        l.sessions = n.max(1);
    }
    l
}

/// `--console-line-max`: the line buffer, CR included.
pub(crate) fn console_options(args: &Args) -> transport::console::ConsoleOptions {
    transport::console::ConsoleOptions {
        line_buf: match args.console_line_max {
            0 => usize::MAX,
            n => n.saturating_add(1),
        },
        // With the UART log, the log prints what the chip shows on a reboot.
        reset_banner: (!args.uart_log).then_some(args.chip),
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
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// A virtual ESP32 that Espressif's provisioning clients (esp_prov, the phone apps) provision unchanged.
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// How clients reach the device.
    #[arg(long, value_enum, default_value = "softap")]
    pub(crate) transport: TransportArg,
    /// Protocomm security scheme: 0 none, 1 X25519 + PoP + AES-CTR, 2 SRP-6a + AES-GCM.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=2))]
    pub(crate) security: u32,
    /// Security 1 proof of possession.
    #[arg(long, default_value = example::POP, conflicts_with = "no_pop")]
    pub(crate) pop: String,
    /// Security 1 without a proof of possession (the `no_pop` capability).
    #[arg(long)]
    pub(crate) no_pop: bool,
    /// Security 2 username (salt and verifier are derived).
    #[arg(long, default_value = example::SEC2_USERNAME)]
    pub(crate) sec2_username: String,
    /// Security 2 password (salt and verifier are derived; the device keeps only those).
    #[arg(long, default_value = example::SEC2_PASSWORD)]
    pub(crate) sec2_password: String,
    /// Security 2 salt in hex, instead of deriving it (needs --sec2-verifier).
    #[arg(long, requires = "sec2_verifier")]
    pub(crate) sec2_salt: Option<String>,
    /// Security 2 verifier in hex, instead of deriving it (needs --sec2-salt).
    #[arg(long, requires = "sec2_salt")]
    pub(crate) sec2_verifier: Option<String>,
    /// Security 2 IV rule: 1 = random prefix + counter (current), 0 = legacy fixed IV.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub(crate) sec_patch_ver: u32,
    /// Firmware family to reproduce: esp-idf-5.5 (ESP-IDF v5.5 wifi_provisioning, the golden vectors)
    /// or network-prov-1.2 (idf-extra-components network_provisioning 1.2).
    #[arg(long, default_value = "esp-idf-5.5", value_parser = parse_profile)]
    pub(crate) profile: Profile,
    /// Station MAC address (the service name is derived from its last 3 bytes).
    #[arg(long, default_value = "24:0a:c4:a1:b2:c3")]
    pub(crate) mac: String,
    /// Service name (SoftAP SSID); default `PROV_` + the last 3 MAC bytes.
    #[arg(long)]
    pub(crate) service_name: Option<String>,
    /// HTTP address (SoftAP transport). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Control channel address (HTTP/JSON: state, events, reboot, factory reset, world changes).
    #[arg(long, default_value = "127.0.0.1:8081", conflicts_with = "no_control")]
    pub(crate) control: SocketAddr,
    /// Do not open the control channel.
    #[arg(long)]
    pub(crate) no_control: bool,
    #[command(flatten)]
    pub(crate) ble: transport::ble::BleArgs,
    /// Console transport on a new pseudo-terminal (its path is printed) instead of stdin/stdout.
    #[arg(long)]
    pub(crate) console_pty: bool,
    /// Usable characters per console line: ESP-IDF's 255 (LINE_BUF_SIZE 256 with the CR), more for a
    /// host build or another stack whose console takes Security 2's 830-character lines; 0 = no limit.
    #[arg(long, value_name = "N", default_value_t = 255)]
    pub(crate) console_line_max: usize,
    /// Print what the board's UART shows on stdout: ESP-IDF log lines from boot to the readiness line
    /// (`Provisioning started with service name : PROV_…`), the example's events, and a panic and the ROM
    /// reset banner on every reboot. The start-up banner goes to stderr instead. For HIL rigs and serial
    /// monitors; with `--transport console` the console shares the UART, as on a chip's UART0. Stdin is
    /// the UART's receive side: when it ends, the process ends (the board lost power).
    #[arg(long, conflicts_with = "console_pty")]
    pub(crate) uart_log: bool,
    /// The chip whose ROM banner the UART shows on a reboot: esp32, esp32c3, esp32c6 or esp32s3.
    #[arg(long, default_value = "esp32")]
    pub(crate) chip: Chip,
    /// World file (TOML): access points, faults, latencies. Default: sim-device/worlds/default.toml.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Directory for persisted credentials (the device's NVS). Without it, nothing survives the process.
    #[arg(long)]
    pub(crate) state_dir: Option<PathBuf>,
    /// Erase persisted credentials before booting (factory reset).
    #[arg(long, requires = "state_dir")]
    pub(crate) reset_provisioning: bool,
    /// Connection attempts before reporting failure (0 = ESP-IDF's legacy behaviour).
    #[arg(long, default_value_t = 0)]
    pub(crate) wifi_conn_attempts: u32,
    /// Limits of the SoftAP HTTP server and the security layer: `chip` (protocomm_httpd: one socket,
    /// one secure session, one request at a time) or `load` (4096 sockets and sessions, requests
    /// handled as they complete; for load tests). The flags below override single limits.
    #[arg(long, value_enum, default_value = "chip")]
    pub(crate) limits: LimitsArg,
    /// Open HTTP connections at once; past it the least recently used closes (chip: 1).
    #[arg(long, value_name = "N")]
    pub(crate) http_max_sockets: Option<usize>,
    /// Open HTTP connections from one peer address; past it that peer's least recently used closes
    /// (load: 64).
    #[arg(long, value_name = "N")]
    pub(crate) http_max_sockets_per_peer: Option<usize>,
    /// Seconds a request head (from its first byte) or body may take to arrive (chip: 5).
    #[arg(long, value_name = "SECS")]
    pub(crate) http_recv_timeout: Option<f64>,
    /// Secure sessions held at once; past it the least recently opened is evicted (chip: 1).
    #[arg(long, value_name = "N")]
    pub(crate) max_sessions: Option<usize>,
    /// Print the PoP / Security 2 password and the example passphrase in the start-up banner (QR
    /// payload and code, esp_prov command line), as ESP-IDF's example does. Off by default: the banner
    /// ends up in terminal scrollback and CI logs; without it the phone app and esp_prov ask for them.
    #[arg(long)]
    pub(crate) show_secrets: bool,
    /// Keep the service running after success (enables CtrlReprov, as in the example).
    #[arg(long)]
    pub(crate) no_auto_stop: bool,
    /// Name of the echo custom endpoint (esp_prov --custom_data uses `custom-data`).
    #[arg(
        long,
        default_value = example::CUSTOM_ENDPOINT,
        conflicts_with = "no_custom_endpoint"
    )]
    pub(crate) custom_endpoint: String,
    /// Register no custom endpoint.
    #[arg(long)]
    pub(crate) no_custom_endpoint: bool,
    /// Seed all device randomness (keys, nonces, cookies) for reproducible runs. Testing only.
    #[arg(long, value_name = "HEX")]
    pub(crate) seed: Option<String>,
    /// Log line format (logs go to stderr; filter with RUST_LOG, e.g. RUST_LOG=debug).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// Stress the credential store: rewrite credentials in --state-dir forever (crash-safety tests).
    #[arg(long, hide = true, requires = "state_dir")]
    pub(crate) debug_store_writes: bool,
    /// Reproduce a known firmware defect NAME (repeatable; names: --list-misbehaviours). For testing
    /// conformance suites; never use otherwise.
    #[arg(long, value_name = "NAME", value_parser = parse_misbehaviour)]
    pub(crate) misbehave: Vec<Misbehaviour>,
    /// Print every --misbehave NAME with what it does, then exit.
    #[arg(long)]
    pub(crate) list_misbehaviours: bool,
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

pub(crate) fn security(args: &Args) -> Result<Security> {
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
