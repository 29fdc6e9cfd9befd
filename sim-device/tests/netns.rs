//! The SoftAP setup exactly where phones and esp_prov look for it: `sim-device` inside its own network
//! namespace at 192.168.4.1:80, a veth pair standing in for the SoftAP link, and esp_prov on the host
//! side run with no `--service_name` at all (its default is 192.168.4.1:80).
//!
//! Needs root (CAP_NET_ADMIN) and iproute2's `ip`; without them the test fails and says so, it is never
//! skipped. README "Run it where phones look" shows the same commands for manual use.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{esp_prov, sim_binary, Events, Sim};

/// The namespace and veth pair, removed on drop.
struct SoftApLink {
    ns: String,
    host_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!("cannot run `ip` ({e}): install iproute2 (Debian: apt install iproute2)")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {} (this test needs root or CAP_NET_ADMIN to create a network namespace)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl SoftApLink {
    fn create() -> Result<Self, String> {
        let id = std::process::id() % 100_000;
        let link = Self {
            ns: format!("provlab-softap-{id}"),
            host_if: format!("plh{id}"),
        };
        let dev_if = format!("pld{id}");
        ip(&["netns", "add", &link.ns])?;
        ip(&[
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &dev_if,
        ])?;
        ip(&["link", "set", &dev_if, "netns", &link.ns])?;
        ip(&[
            "-n",
            &link.ns,
            "addr",
            "add",
            "192.168.4.1/24",
            "dev",
            &dev_if,
        ])?;
        ip(&["-n", &link.ns, "link", "set", &dev_if, "up"])?;
        ip(&["-n", &link.ns, "link", "set", "lo", "up"])?;
        ip(&["addr", "add", "192.168.4.2/24", "dev", &link.host_if])?;
        ip(&["link", "set", &link.host_if, "up"])?;
        Ok(link)
    }
}

impl Drop for SoftApLink {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

#[test]
fn esp_prov_finds_the_device_at_the_softap_default_address() {
    let link = SoftApLink::create().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &link.ns]).arg(sim_binary());
    let sim = Sim::start_with(
        cmd,
        &[
            "--listen",
            "192.168.4.1:80",
            "--control",
            "192.168.4.1:81",
            "--security",
            "1",
            "--pop",
            "abcd1234",
        ],
    );
    assert_eq!(sim.addr().to_string(), "192.168.4.1:80");
    let run = esp_prov(
        &[
            "--transport",
            "softap",
            "--sec_ver",
            "1",
            "--pop",
            "abcd1234",
            "--ssid",
            "myssid",
            "--passphrase",
            "mypassword",
        ],
        "",
        Duration::from_secs(60),
    );
    assert_eq!(run.status, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("Connecting to 192.168.4.1:80"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("==== Provisioning was successful ===="),
        "{}",
        run.all()
    );
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
    drop(sim);
    drop(link);
}
