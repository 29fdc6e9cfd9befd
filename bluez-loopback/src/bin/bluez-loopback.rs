//! `bluez-loopback`: a fake bluetoothd on a private D-Bus, for BLE tests with no Bluetooth.

use std::io::Write;

use anyhow::Context;
use bluez_loopback::{Options, Testbed};
use clap::Parser;

/// A fake bluetoothd: owns org.bluez on a private D-Bus and bridges GATT peripheral apps
/// (bluer, BlueZ D-Bus API) to centrals (bluer, bleak, esp_prov) with no Bluetooth hardware.
#[derive(Parser, Debug)]
#[command(
    name = "bluez-loopback",
    version,
    after_help = "\
By default a private dbus-daemon is started and its address printed on stdout as one line,
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/bluez-loopback-.../bus
then the loopback runs until SIGINT/SIGTERM. With --bus it serves an existing bus instead.

Example: a BLE peripheral and a bleak central with no Bluetooth hardware
  bluez-loopback --mtu 23 > /tmp/lb.env &
  until [ -s /tmp/lb.env ]; do sleep 0.05; done
  export \"$(cat /tmp/lb.env)\"
  sim-device --transport ble &        # any bluer / BlueZ D-Bus GATT app; registers on hci0
  python3 -c 'import asyncio, bleak; print(asyncio.run(bleak.BleakScanner.discover(bluez={\"adapter\": \"hci1\"})))'
  kill %2 %1

Adapters hci0 and hci1 exist by default and every adapter sees every advertisement. Use
--mtu 23 so that long reads become ReadValue{offset} calls, as with phones."
)]
struct Args {
    /// ATT MTU of every link (read answers are cut to MTU-1 bytes).
    #[arg(long, default_value_t = 517)]
    mtu: u16,
    /// Adapter name (repeatable); default hci0 and hci1.
    #[arg(long = "adapter", value_name = "NAME")]
    adapters: Vec<String>,
    /// Hide an advertisement from the adapter it is advertised on.
    #[arg(long)]
    hide_own_adapter: bool,
    /// Attach to an existing bus at ADDRESS instead of starting a private dbus-daemon.
    #[arg(long, value_name = "ADDRESS")]
    bus: Option<String>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut opts = Options {
        mtu: args.mtu,
        hide_own_adapter: args.hide_own_adapter,
        ..Options::default()
    };
    if !args.adapters.is_empty() {
        opts.adapters = args.adapters;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.bus {
        Some(addr) => rt.block_on(async {
            tokio::select! {
                r = bluez_loopback::serve(&addr, opts) => r.context("bluez-loopback"),
                () = stop_signal() => Ok(()),
            }
        }),
        None => {
            let tb = Testbed::start(opts).context("starting the private bus")?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "DBUS_SYSTEM_BUS_ADDRESS={}", tb.bus_address())?;
            out.flush()?;
            drop(out);
            rt.block_on(stop_signal());
            drop(tb);
            Ok(())
        }
    }
}

async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
