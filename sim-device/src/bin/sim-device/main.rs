//! `sim-device`: a virtual ESP32 running Espressif unified provisioning, reachable over the SoftAP HTTP
//! scheme, the console line protocol or BLE. The knobs are the ones an ESP-IDF developer sets in
//! menuconfig and in the `wifi_prov_mgr` example ([`args`]; `--help` lists them); [`output`] is what it
//! prints at start-up.

mod args;
mod output;

/// mimalloc hands freed memory back to the OS (glibc's allocator keeps a process's high-water mark),
/// so a simulator that served a burst of clients, or a fleet's worth, shrinks again afterwards.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use sim_device::runtime::banner;
use sim_device::runtime::store::CredentialStore;
use sim_device::runtime::uart::{self, LogConfig, Uart};
use sim_device::runtime::world::{parse_mac, WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, SimOptions};
use sim_device::transport;
use sim_device::{Credentials, CustomEndpoint, DeviceConfig, Misbehaviour};

use crate::args::{console_options, security, Args, LogFormat, TransportArg};
use crate::output::{describe, provisioned_note, TerminalMode, Wire};

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
    let filter = sim_device::runtime::logfilter::from_env("info");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
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
        max_sessions: args::http_limits(&args).sessions,
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
        // The control channel and the UART log read the history; with neither, nobody can.
        event_history: if args.no_control && !args.uart_log {
            0
        } else {
            runtime::DEFAULT_HISTORY
        },
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
            let limits = args::http_limits(&args);
            if limits.max_open_sockets > 64 {
                raise_fd_limit(limits.max_open_sockets);
            }
            let server = transport::http::HttpServer::bind(args.listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {} (choose another with --listen ADDR; port 80 needs root or a network namespace)",
                        args.listen
                    )
                })?
                .with_limits(limits);
            let addr = server.local_addr();
            describe(&args, &name, Wire::Http(addr), control, &mut out);
            provisioned_note(&handle, &args, &mut out);
            let h = handle.clone();
            tokio::spawn(async move { server.run(h).await });
            announce(&args, &name, &handle, &out, None);
            wait_for_exit_or_uart_end(&args).await;
        }
        TransportArg::Ble => run_ble(&args, &name, control, handle, out).await?,
        TransportArg::Console => {
            describe(&args, &name, Wire::Console, control, &mut out);
            provisioned_note(&handle, &args, &mut out);
            if args.uart_log {
                eprint!("{out}");
                // The console shares the UART with the log, as on a chip's UART0.
                let uart = Uart::spawn(tokio::io::stdout());
                announce(&args, &name, &handle, "", Some(&uart));
                tokio::select! {
                    r = transport::console::serve_with(handle.clone(), tokio::io::stdin(), uart.writer(), console_options(&args)) => r?,
                    () = wait_for_exit() => {}
                }
            } else if args.console_pty {
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
    announce(args, name, &handle, &out, None);
    wait_for_exit_or_uart_end(args).await;
    Ok(())
}

/// Once the transport serves: the start-up banner `out` on stdout, or with `--uart-log` on stderr while
/// the UART log (on `uart`, else a new one on stdout) starts and prints the readiness line.
fn announce(
    args: &Args,
    name: &str,
    handle: &runtime::DeviceHandle,
    out: &str,
    uart: Option<&Uart>,
) {
    use std::io::Write as _;
    if !args.uart_log {
        print!("{out}");
        let _ = std::io::stdout().flush();
        return;
    }
    eprint!("{out}");
    let uart = uart
        .cloned()
        .unwrap_or_else(|| Uart::spawn(tokio::io::stdout()));
    let cfg = LogConfig {
        service_name: name.to_owned(),
        chip: args.chip,
    };
    tokio::spawn(uart::log(handle.clone(), uart, cfg));
}

async fn wait_for_exit() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// [`wait_for_exit`], and with `--uart-log` also the end of stdin: the UART's receive side closing is the
/// rig that powered this board going away, so an orphaned virtual board does not linger.
async fn wait_for_exit_or_uart_end(args: &Args) {
    use tokio::io::AsyncReadExt as _;
    let uart_rx = async {
        if !args.uart_log {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        // Bytes sent to a SoftAP or BLE board's UART have no reader in the firmware: dropped.
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        () = wait_for_exit() => {}
        () = uart_rx => eprintln!("sim-device: the UART's receive side (stdin) closed: powering off"),
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

/// Raises the soft limit of open files toward the hard limit so `sockets` connections fit; says so when
/// the hard limit is lower (the LRU purge then closes connections earlier than asked).
fn raise_fd_limit(sockets: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = sockets as u64 + 64;
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < want => {
            let to = want.min(hard);
            if setrlimit(Resource::RLIMIT_NOFILE, to, hard).is_err() || to < want {
                eprintln!(
                    "warning: open files are limited to {to} (hard limit {hard}); {sockets} HTTP \
                     connections need {want} (raise it with `ulimit -n`)"
                );
            }
        }
        _ => {}
    }
}
