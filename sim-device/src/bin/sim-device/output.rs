//! What the simulator prints at start-up for the person who started it (spec §6.5): service name,
//! security, the QR payload and code, where it listens, the esp_prov command that provisions it; and
//! the terminal mode a console on stdin needs.

use std::io::IsTerminal;
use std::net::SocketAddr;

use sim_device::runtime;
use sim_device::runtime::banner::{self, EspProvArgs, QrInfo};

use crate::args::Args;

/// How clients reach the device, for the banner.
#[derive(Clone, Copy)]
pub(crate) enum Wire {
    /// SoftAP HTTP at this address.
    Http(SocketAddr),
    Ble,
    Console,
}

pub(crate) fn describe(
    args: &Args,
    name: &str,
    wire: Wire,
    control: Option<SocketAddr>,
    out: &mut String,
) {
    use std::fmt::Write as _;
    // Secrets only with --show-secrets; otherwise placeholders in the command and none in the QR
    // payload (the phone app then asks for the PoP, as it does for a QR code without one).
    let shown = |secret: &'static str, value: &str| -> String {
        if args.show_secrets {
            value.to_owned()
        } else {
            secret.to_owned()
        }
    };
    let password = shown("<password>", &args.sec2_password);
    let pop_text = shown("<PoP>", &args.pop);
    let sec2 = (args.security == 2).then_some((args.sec2_username.as_str(), password.as_str()));
    let pop = match args.security {
        1 if !args.no_pop => Some(args.pop.as_str()),
        2 if args.sec2_salt.is_none() => Some(args.sec2_password.as_str()),
        _ => None,
    }
    .filter(|_| args.show_secrets);
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
            pop: (args.security == 1 && !args.no_pop).then_some(pop_text.as_str()),
            sec2: sec2.filter(|_| args.sec2_salt.is_none()),
            passphrase: if args.show_secrets {
                banner::EXAMPLE_PASSPHRASE
            } else {
                "<passphrase>"
            },
        });
        let joined: Vec<String> = pargs.iter().map(|a| banner::shell_quote(a)).collect();
        let _ = writeln!(
            out,
            "Provision it with esp_prov:\n  cargo xtask esp-prov {}",
            joined.join(" ")
        );
    }
    if !args.show_secrets && args.security > 0 {
        let _ = writeln!(
            out,
            "(PoP/password and passphrase not shown: --show-secrets prints them and puts the PoP in the QR code)"
        );
    }
    if let Some(c) = control {
        let _ = writeln!(out, "Control on http://{c}");
    }
}

/// Puts an interactive stdin into the mode a serial monitor uses (no line editing, no local echo, CR
/// kept as CR; Ctrl-C still works) and restores it on drop. Does nothing when stdin is not a terminal.
pub(crate) struct TerminalMode(Option<nix::sys::termios::Termios>);

impl TerminalMode {
    pub(crate) fn device_like() -> Self {
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
pub(crate) fn provisioned_note(handle: &runtime::DeviceHandle, args: &Args, out: &mut String) {
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
