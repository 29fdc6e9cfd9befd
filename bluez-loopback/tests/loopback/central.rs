//! Central-side helpers of the scenarios: discovery by name, the test service's
//! characteristics, polling and write requests.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use bluer::gatt::remote::CharacteristicWriteRequest;
use bluer::gatt::WriteOp;
use bluer::{Adapter, AdapterEvent, Device, Uuid};
use futures::StreamExt;

use crate::SVC;

pub(crate) async fn find(adapter: &Adapter, name: &str) -> Result<Device> {
    adapter.set_powered(true).await?;
    let mut events = adapter.discover_devices().await?;
    let t = Instant::now();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = events.next().await {
            if let AdapterEvent::DeviceAdded(addr) = ev {
                let d = adapter.device(addr)?;
                if d.name().await?.as_deref() == Some(name) {
                    return Ok(d);
                }
            }
        }
        Err(anyhow!("discovery ended"))
    })
    .await
    .map_err(|_| anyhow!("{name} not found within 5 s"))??;
    println!(
        "  found {name} at {} in {} ms",
        found.address(),
        t.elapsed().as_millis()
    );
    Ok(found)
}

pub(crate) async fn chars(
    dev: &Device,
) -> Result<Vec<(Uuid, bluer::gatt::remote::Characteristic)>> {
    let mut out = Vec::new();
    for s in dev.services().await? {
        if s.uuid().await? != SVC {
            continue;
        }
        for c in s.characteristics().await? {
            out.push((c.uuid().await?, c));
        }
    }
    Ok(out)
}

pub(crate) fn pick(
    cs: &[(Uuid, bluer::gatt::remote::Characteristic)],
    u: Uuid,
) -> Result<bluer::gatt::remote::Characteristic> {
    cs.iter()
        .find(|(x, _)| *x == u)
        .map(|(_, c)| c.clone())
        .ok_or_else(|| anyhow!("characteristic {u} missing"))
}

pub(crate) async fn wait_for(
    what: &str,
    mut f: impl FnMut() -> futures::future::BoxFuture<'static, Result<bool>>,
) -> Result<()> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        if f().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("timed out waiting for {what}")
}

/// Write with response, as esp_prov does (bluer's plain `write` is a write command).
pub(crate) fn request() -> CharacteristicWriteRequest {
    CharacteristicWriteRequest {
        op_type: WriteOp::Request,
        ..Default::default()
    }
}

/// A write command (write without response).
pub(crate) fn command() -> CharacteristicWriteRequest {
    CharacteristicWriteRequest {
        op_type: WriteOp::Command,
        ..Default::default()
    }
}
