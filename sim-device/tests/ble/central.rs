//! The test's BLE central: this test binary re-executed as `ble --central <adapter>` with
//! `DBUS_SYSTEM_BUS_ADDRESS` set, so bluer finds the test's private bus.
//!
//! One command per stdin line, one answer per stdout line (`ok [...]` or `err <why>`):
//! - `connect <name>`: scan until a device advertises `<name>`, connect, and map endpoint names to
//!   characteristics by reading every 0x2901 descriptor (as esp_prov and the phone apps do); answers
//!   `ok name=uuid ...`;
//! - `write <endpoint> [hex]`: Write Request (with response); `read <endpoint>`: a whole read (the stack
//!   follows with offset reads for long values); `readat <endpoint> <offset>`: one read at an offset;
//! - `write-desc <endpoint> <hex>`: write the endpoint's 0x2901 descriptor; `flags <endpoint>`: the
//!   characteristic's flags; `adv`: the connected device's advertised UUIDs and manufacturer data;
//! - `connected <true|false>`: wait up to 3 s for the link to be in that state.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use bluer::gatt::remote::{Characteristic, CharacteristicReadRequest, CharacteristicWriteRequest};
use bluer::gatt::WriteOp;
use bluer::{Adapter, AdapterEvent, Device, Session, Uuid};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

const CUD: Uuid = Uuid::from_u128(0x0000_2901_0000_1000_8000_0080_5f9b_34fb);

struct State {
    adapter: Adapter,
    device: Option<Device>,
    endpoints: BTreeMap<String, Characteristic>,
}

pub(crate) fn main() -> ExitCode {
    let adapter = std::env::args().nth(2).unwrap_or_else(|| "hci1".to_owned());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("err runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(&adapter)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("err {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(adapter: &str) -> Result<(), String> {
    let session = Session::new().await.map_err(|e| e.to_string())?;
    let adapter = session.adapter(adapter).map_err(|e| e.to_string())?;
    adapter.set_powered(true).await.map_err(|e| e.to_string())?;
    let mut state = State {
        adapter,
        device: None,
        endpoints: BTreeMap::new(),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match command(&mut state, &line).await {
            Ok(s) if s.is_empty() => "ok".to_owned(),
            Ok(s) => format!("ok {s}"),
            Err(e) => format!("err {}", e.replace('\n', " ")),
        };
        println!("{answer}");
    }
    Ok(())
}

fn text(e: bluer::Error) -> String {
    format!("{:?}: {e}", e.kind)
}

async fn command(st: &mut State, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["connect", name] => connect(st, name).await,
        ["write", ep, rest @ ..] => {
            let value = hex::decode(rest.first().unwrap_or(&"")).map_err(|e| e.to_string())?;
            let req = CharacteristicWriteRequest {
                op_type: WriteOp::Request,
                ..Default::default()
            };
            endpoint(st, ep)?
                .write_ext(&value, &req)
                .await
                .map_err(text)?;
            Ok(String::new())
        }
        ["read", ep] => Ok(hex::encode(endpoint(st, ep)?.read().await.map_err(text)?)),
        ["readat", ep, offset] => {
            let req = CharacteristicReadRequest {
                offset: offset.parse().map_err(|_| "bad offset")?,
                ..Default::default()
            };
            let value = endpoint(st, ep)?.read_ext(&req).await.map_err(text)?;
            Ok(hex::encode(value))
        }
        ["write-desc", ep, value] => {
            let value = hex::decode(value).map_err(|e| e.to_string())?;
            for d in endpoint(st, ep)?.descriptors().await.map_err(text)? {
                if d.uuid().await.map_err(text)? == CUD {
                    d.write(&value).await.map_err(text)?;
                    return Ok(String::new());
                }
            }
            Err("no 0x2901".into())
        }
        ["flags", ep] => {
            let f = endpoint(st, ep)?.flags().await.map_err(text)?;
            Ok(format!(
                "read={} write={} write_without_response={} notify={} indicate={}",
                f.read, f.write, f.write_without_response, f.notify, f.indicate
            ))
        }
        ["adv"] => {
            let device = st.device.as_ref().ok_or("not connected yet")?;
            let uuids = device.uuids().await.map_err(text)?.unwrap_or_default();
            let mut uuids: Vec<String> = uuids.iter().map(Uuid::to_string).collect();
            uuids.sort();
            let mfg = device
                .manufacturer_data()
                .await
                .map_err(text)?
                .unwrap_or_default();
            let mut mfg: Vec<String> = mfg
                .iter()
                .map(|(k, v)| format!("{k:04x}:{}", hex::encode(v)))
                .collect();
            mfg.sort();
            Ok(format!("uuids={} mfg={}", uuids.join(","), mfg.join(",")))
        }
        ["connected", want] => {
            let want = *want == "true";
            let device = st.device.as_ref().ok_or("not connected yet")?;
            for _ in 0..60 {
                if device.is_connected().await.unwrap_or(false) == want {
                    return Ok(String::new());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(format!("link not {}", if want { "up" } else { "down" }))
        }
        _ => Err(format!("unknown command {line:?}")),
    }
}

fn endpoint<'a>(st: &'a State, name: &str) -> Result<&'a Characteristic, String> {
    st.endpoints
        .get(name)
        .ok_or_else(|| format!("no endpoint {name}"))
}

async fn connect(st: &mut State, name: &str) -> Result<String, String> {
    let device = tokio::time::timeout(Duration::from_secs(10), find(&st.adapter, name))
        .await
        .map_err(|_| format!("no device named {name} within 10 s"))??;
    if !device.is_connected().await.unwrap_or(false) {
        device.connect().await.map_err(text)?;
    }
    st.endpoints.clear();
    for service in device.services().await.map_err(text)? {
        for ch in service.characteristics().await.map_err(text)? {
            for d in ch.descriptors().await.map_err(text)? {
                if d.uuid().await.map_err(text)? == CUD {
                    let n = d.read().await.map_err(text)?;
                    st.endpoints
                        .insert(String::from_utf8_lossy(&n).into_owned(), ch.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    for (n, ch) in &st.endpoints {
        out.push(format!("{n}={}", ch.uuid().await.map_err(text)?));
    }
    st.device = Some(device);
    Ok(out.join(" "))
}

async fn find(adapter: &Adapter, name: &str) -> Result<Device, String> {
    let mut events = adapter.discover_devices().await.map_err(text)?.boxed();
    while let Some(ev) = events.next().await {
        if let AdapterEvent::DeviceAdded(addr) = ev {
            let device = adapter.device(addr).map_err(text)?;
            if device.name().await.ok().flatten().as_deref() == Some(name) {
                return Ok(device);
            }
        }
    }
    Err("discovery ended".into())
}
