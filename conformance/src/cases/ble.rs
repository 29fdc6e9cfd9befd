//! BLE GATT transport semantics (spec §4.2): how endpoints are named and numbered, what a read before
//! any write returns, how a failed request looks per stack, and long reads at a small ATT MTU.

use std::time::Duration;

use bluer::Uuid;

use crate::case::Group::Ble as G;
use crate::case::{short_hex, Case, Ctx, Env, Step, Stop};
use crate::description::BleStack;
use crate::dut::ble::endpoint_uuid;
use crate::ensure;
use crate::link::Transport;
use crate::link::{Access, GattAccess, GattChar};
use crate::model::Answer;

/// The BLE cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case(
            "BLE-CUD-NAMES",
            "every endpoint characteristic has one 0x2901 naming it; UUIDs carry the endpoint ids (spec §4.2.1)",
            ble,
            cud_names,
        ),
        G.case(
            "BLE-READ-BEFORE-WRITE",
            "on a new connection, reading an endpoint before writing it returns an empty value",
            ble,
            read_before_write,
        ),
        G.case(
            "BLE-ERROR-DISCONNECTS",
            "a failed request: ATT error, then Bluedroid drops the link and NimBLE keeps it (spec §4.2.3)",
            ble,
            error_disconnects,
        ),
        G.case(
            "BLE-LONG-READ",
            "a response longer than ATT_MTU−1 is read whole through offset reads, and reads again the same",
            ble,
            long_read,
        ),
    ]
}

fn ble(env: &Env<'_>) -> Option<String> {
    (env.transport != Transport::Ble).then(|| "BLE transport only".into())
}

fn ble_link<'c>(ctx: &'c mut Ctx<'_>) -> Step<&'c mut dyn GattAccess> {
    match ctx.rec.link().access() {
        Access::Gatt(g) => Ok(g),
        _ => Err(Stop::Skip("not a BLE link".into())),
    }
}

/// The endpoints every device registers, with their BLE ids (`protocomm` order, spec §4.2.2).
const STANDARD: [(&str, u16); 5] = [
    ("prov-ctrl", 0xFF4F),
    ("prov-scan", 0xFF50),
    ("prov-session", 0xFF51),
    ("prov-config", 0xFF52),
    ("proto-ver", 0xFF53),
];

fn cud_names(ctx: &mut Ctx<'_>) -> Step<()> {
    // The first request connects and maps the endpoints by their descriptions, as esp_prov does.
    ctx.version()?;
    let gatt: Vec<GattChar> = ble_link(ctx)?.gatt().to_vec();
    let named = |c: &GattChar| {
        c.descriptions
            .first()
            .map(|d| String::from_utf8_lossy(d).into_owned())
    };
    let Some(version) = gatt
        .iter()
        .find(|c| named(c).as_deref() == Some("proto-ver"))
    else {
        return Err(Stop::Fail(
            "no characteristic described as \"proto-ver\"".into(),
        ));
    };
    let service: Uuid = version.service;
    let ours: Vec<&GattChar> = gatt.iter().filter(|c| c.service == service).collect();
    ctx.rec.note(format!(
        "service {service}: {}",
        ours.iter()
            .map(|c| format!("{} = {:?}", c.uuid, named(c).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut problems = Vec::new();
    for c in &ours {
        match c.descriptions.as_slice() {
            [] => problems.push(format!("{} has no User Description (0x2901)", c.uuid)),
            [d] => {
                if d.is_empty() || d.contains(&0) || !d.is_ascii() {
                    problems.push(format!(
                        "{}: description {} is not the endpoint name in ASCII without NUL",
                        c.uuid,
                        short_hex(d)
                    ));
                }
            }
            many => problems.push(format!("{} has {} User Descriptions", c.uuid, many.len())),
        }
        let low = (c.uuid.as_u128() >> 96) as u16;
        if endpoint_uuid(service, low) != c.uuid {
            problems.push(format!(
                "{} is not the service UUID {service} with an id in hex digits 5-8",
                c.uuid
            ));
        }
    }
    for (name, id) in STANDARD {
        match ours.iter().find(|c| named(c).as_deref() == Some(name)) {
            None if name == "prov-ctrl" => {} // ESP-IDF before 5.1 has no prov-ctrl
            None => problems.push(format!("no characteristic described as {name:?}")),
            Some(c) => {
                let want = endpoint_uuid(service, id);
                if c.uuid != want {
                    problems.push(format!(
                        "{name}: UUID {}, expected {want} (id {id:#06x})",
                        c.uuid
                    ));
                }
            }
        }
    }
    for custom in &ctx.env.desc.custom_endpoints {
        if !ours
            .iter()
            .any(|c| named(c).as_deref() == Some(custom.as_str()))
        {
            problems.push(format!("custom endpoint {custom:?} has no characteristic"));
        }
    }
    let mut uuids: Vec<Uuid> = ours.iter().map(|c| c.uuid).collect();
    uuids.sort();
    uuids.dedup();
    if uuids.len() != ours.len() {
        problems.push("two characteristics share a UUID".into());
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

fn read_before_write(ctx: &mut Ctx<'_>) -> Step<()> {
    // The link's connection is new: nothing was written on it yet.
    let got = ble_link(ctx)?.read_only("proto-ver")?;
    let answer = match &got {
        Ok(v) => Answer::Data(v.clone()),
        Err(why) => Answer::NoResponse(why.clone()),
    };
    ctx.rec.record(
        "proto-ver",
        &[],
        answer,
        "read with no write on a new connection",
    );
    match got {
        Ok(v) => {
            ensure!(
                v.is_empty(),
                "read {} bytes ({}): a value before any write on this connection must be empty (spec §4.2.3; \
                 current firmware clears stored values on disconnect)",
                v.len(),
                short_hex(&v)
            );
            Ok(())
        }
        Err(why) => Err(Stop::Fail(format!(
            "the read failed: {why}; expected an empty value"
        ))),
    }
}

fn error_disconnects(ctx: &mut Ctx<'_>) -> Step<()> {
    let Some(stack) = ctx.env.desc.ble.stack else {
        return Err(Stop::Skip(
            "the device file does not say its stack ([ble] stack)".into(),
        ));
    };
    ctx.version()?;
    // Without a handshake a `prov-config` request fails under every scheme: Security 0 refuses a
    // response type as a request, Security 1/2 have no session (spec §7.1).
    ctx.expect_none(
        "prov-config",
        &[0x08, 0x01],
        "GetStatus response type, no session: fails",
    )?;
    let wait = match stack {
        BleStack::Bluedroid => Duration::from_secs(1),
        BleStack::Nimble => Duration::from_millis(300),
    };
    let up = ble_link(ctx)?.connected_after(wait);
    ctx.rec.note(format!(
        "after {} ms the link is {}",
        wait.as_millis(),
        if up { "up" } else { "down" }
    ));
    match stack {
        BleStack::Bluedroid => ensure!(
            !up,
            "Bluedroid drops the link after a failed request; it stayed up"
        ),
        BleStack::Nimble => ensure!(
            up,
            "NimBLE keeps the link after a failed request; it was dropped"
        ),
    }
    // The device answers again (on a new connection for Bluedroid).
    ctx.version()?;
    Ok(())
}

fn long_read(ctx: &mut Ctx<'_>) -> Step<()> {
    let version = ctx.expect_data("proto-ver", b"---", "proto-ver")?;
    let mtu = ble_link(ctx)?.mtu("proto-ver")?;
    let Some(mtu) = mtu else {
        return Err(Stop::Skip("BlueZ reports no MTU for the link".into()));
    };
    ctx.rec.note(format!(
        "ATT MTU {mtu}: one read carries at most {} bytes",
        mtu - 1
    ));
    let (endpoint, body) = if version.len() > mtu - 1 {
        ("proto-ver", version)
    } else if ctx.env.security == 2 && mtu - 1 < 400 {
        let hs = ctx.client(None)?;
        let r0 = ctx.expect_data(
            "prov-session",
            &hs.command0(),
            "Command0 (Response0 ≈ 416 bytes)",
        )?;
        ("prov-session", r0)
    } else {
        return Err(Stop::Skip(format!(
            "no response here is longer than {} bytes; run with a smaller MTU (--ble-mtu 23)",
            mtu - 1
        )));
    };
    if endpoint == "proto-ver" {
        serde_json::from_slice::<serde_json::Value>(&body).map_err(|e| {
            Stop::Fail(format!(
                "the {}-byte proto-ver read at MTU {mtu} is not JSON ({e}): offsets ignored? {:?}",
                body.len(),
                String::from_utf8_lossy(&body)
            ))
        })?;
    }
    let again = ble_link(ctx)?.read_only(endpoint)?;
    let answer = match &again {
        Ok(v) => Answer::Data(v.clone()),
        Err(why) => Answer::NoResponse(why.clone()),
    };
    ctx.rec
        .record(endpoint, &[], answer, "read again, no write");
    match again {
        Ok(v) => ensure!(
            v == body,
            "a second read of {endpoint} gave {} bytes, the first {}: the stored value persists until the \
             next write (spec §4.2.3)",
            v.len(),
            body.len()
        ),
        Err(why) => return Err(Stop::Fail(format!("second read failed: {why}"))),
    }
    Ok(())
}
