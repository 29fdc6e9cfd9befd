//! Turns a vector's `inputs` into a [`DeviceConfig`] and its recorded device randomness into a
//! [`RecordedRng`].
//!
//! The oracle's device drew its secrets (sec1 X25519 key and device random, sec2 SRP `b` and GCM nonce
//! prefix) from Mbed TLS; the vector records the resulting values, which are injected here in the order
//! the oracle drew them. Other `derived_device_values` (shared key, `k`, `u`, `S`, `M`, ...) are results,
//! not draws, and are not injected.

use std::net::Ipv4Addr;

use sim_device::{
    Ap, CustomBehaviour, CustomEndpoint, DeviceConfig, Draw, RecordedRng, Sec2Patch, Secret,
    Security, WifiWorld,
};

use crate::schema::{decode_hex, Inputs, VectorFile};

/// Name of the application endpoint the oracle registers in every scenario (an echo).
pub const CUSTOM_ENDPOINT: &str = "custom-data";

/// One recorded device random draw, in the order the oracle made it.
#[derive(Debug, Clone)]
pub struct RecordedDraw {
    /// Step during which the oracle drew it (0 when the vector has no trace to tell).
    pub step: u32,
    /// Label as written in the vector.
    pub label: String,
    /// What the device must be handed.
    pub draw: Draw,
    /// The bytes to hand out (already cut to the draw's length).
    pub value: Vec<u8>,
}

/// How a recorded label maps to a device draw: `(label, draw, bytes to keep)`.
const INJECTED: [(&str, Draw, Option<usize>); 4] = [
    (
        "sec1.device_private_key_x25519_le",
        Draw::Sec1PrivateKey,
        None,
    ),
    ("security1/Device random", Draw::Sec1DeviceRandom, None),
    ("srp6a/b", Draw::Sec2B, None),
    // Recorded as the full 12-byte nonce (8 random bytes + 32-bit counter 1); only the prefix is drawn.
    (
        "security2/Initialization vector",
        Draw::Sec2NoncePrefix,
        Some(8),
    ),
];

/// Builds the device configuration the oracle ran with.
///
/// Always registers [`CUSTOM_ENDPOINT`] as an echo endpoint, as the oracle does.
pub fn device_config(inputs: &Inputs) -> Result<DeviceConfig, String> {
    let security = match inputs.security {
        0 => Security::Sec0,
        1 => Security::Sec1 {
            pop: inputs.pop.as_ref().map(|p| Secret(p.as_bytes().to_vec())),
        },
        2 => {
            let salt = inputs
                .sec2_salt_hex
                .as_deref()
                .ok_or("inputs: security 2 needs `sec2_salt_hex`")?;
            let verifier = inputs
                .sec2_verifier_hex
                .as_deref()
                .ok_or("inputs: security 2 needs `sec2_verifier_hex`")?;
            Security::Sec2 {
                salt: decode_hex(salt, "inputs.sec2_salt_hex")?,
                verifier: Secret(decode_hex(verifier, "inputs.sec2_verifier_hex")?),
                patch: Sec2Patch::V1,
            }
        }
        other => return Err(format!("inputs.security: unknown scheme {other}")),
    };
    let aps = inputs
        .fake_wifi
        .aps
        .iter()
        .enumerate()
        .map(|(i, ap)| {
            let what = format!("inputs.fake_wifi.aps[{i}]");
            let bssid: [u8; 6] = decode_hex(&ap.bssid, &format!("{what}.bssid"))?
                .try_into()
                .map_err(|v: Vec<u8>| format!("{what}.bssid: {} bytes, expected 6", v.len()))?;
            let auth = sim_device::auth_mode_from_name(&ap.auth)
                .ok_or_else(|| format!("{what}.auth: unknown auth mode {:?}", ap.auth))?;
            Ok(Ap {
                ssid: ap.ssid.as_bytes().to_vec(),
                bssid,
                channel: ap.channel,
                rssi: ap.rssi,
                auth,
                password: ap.password.as_bytes().to_vec(),
                hidden: false,
                fault: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ip_on_connect: Ipv4Addr = inputs.fake_wifi.ip_on_connect.parse().map_err(|e| {
        format!(
            "inputs.fake_wifi.ip_on_connect: {:?}: {e}",
            inputs.fake_wifi.ip_on_connect
        )
    })?;
    Ok(DeviceConfig {
        security,
        auto_stop: inputs.auto_stop,
        wifi_conn_attempts: inputs.wifi_conn_attempts.unwrap_or(0),
        custom_endpoints: vec![CustomEndpoint {
            name: CUSTOM_ENDPOINT.to_owned(),
            behaviour: CustomBehaviour::Echo,
        }],
        wifi: WifiWorld {
            aps,
            ip_on_connect,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Lists the draws to inject, in the order the oracle made them.
///
/// The order comes from the per-step `device_trace` (`SECRET`/`HEX` lines with the injected labels),
/// checked against `derived_device_values`. A vector without such trace lines falls back to
/// `derived_device_values` alone (label by label, which is exact whenever draws of different kinds do
/// not interleave).
pub fn recorded_draws(file: &VectorFile) -> Result<Vec<RecordedDraw>, String> {
    let mut from_trace = Vec::new();
    for raw in &file.transcript {
        for line in &raw.device_trace {
            let mut parts = line.split('\t');
            let (Some(kind), Some(label), Some(value)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if kind != "SECRET" && kind != "HEX" {
                continue;
            }
            if let Some((label, draw, keep)) = INJECTED.iter().find(|(l, ..)| *l == label) {
                let value = decode_hex(value.trim(), &format!("step {}: trace {label}", raw.step))?;
                from_trace.push(make_draw(raw.step, label, *draw, *keep, value)?);
            }
        }
    }
    let mut from_derived = Vec::new();
    for (label, draw, keep) in INJECTED {
        for (i, value) in file
            .derived_device_values
            .get(label)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let value = decode_hex(value, &format!("derived_device_values[{label:?}][{i}]"))?;
            from_derived.push(make_draw(0, label, draw, keep, value)?);
        }
    }
    if from_trace.is_empty() {
        return Ok(from_derived);
    }
    for (label, ..) in INJECTED {
        let traced: Vec<&[u8]> = from_trace
            .iter()
            .filter(|d| d.label == label)
            .map(|d| d.value.as_slice())
            .collect();
        let derived: Vec<&[u8]> = from_derived
            .iter()
            .filter(|d| d.label == label)
            .map(|d| d.value.as_slice())
            .collect();
        if traced != derived {
            return Err(format!(
                "{label:?}: device_trace records {} value(s), derived_device_values {} (or they differ)",
                traced.len(),
                derived.len()
            ));
        }
    }
    Ok(from_trace)
}

fn make_draw(
    step: u32,
    label: &str,
    draw: Draw,
    keep: Option<usize>,
    mut value: Vec<u8>,
) -> Result<RecordedDraw, String> {
    if let Some(n) = keep {
        if value.len() < n {
            return Err(format!(
                "{label:?}: {} bytes, need at least {n}",
                value.len()
            ));
        }
        value.truncate(n);
    }
    Ok(RecordedDraw {
        step,
        label: label.to_owned(),
        draw,
        value,
    })
}

/// Builds a [`RecordedRng`] that hands out `draws` in order.
pub fn recorded_rng(draws: &[RecordedDraw]) -> RecordedRng {
    let rng = RecordedRng::new();
    for d in draws {
        rng.push(d.draw, d.value.clone());
    }
    rng
}
