//! End-to-end tests: a bluer peripheral and a bluer central talk through the loopback.
//!
//! `harness = false`: `main` starts one [`Testbed`] per scenario and re-executes this binary with
//! `DBUS_SYSTEM_BUS_ADDRESS` set (bluer reads only that variable, and setting it in a running
//! multi-threaded process is unsafe). The child runs the scenario named in `LOOPBACK_ROLE`.
//! Run one scenario with `cargo test -p bluez-loopback --test loopback -- NAME`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bluer::adv::{Advertisement, AdvertisementHandle, Type};
use bluer::gatt::local::{
    Application, ApplicationHandle, Characteristic, CharacteristicNotify,
    CharacteristicNotifyMethod, CharacteristicRead, CharacteristicWrite, CharacteristicWriteMethod,
    Descriptor, DescriptorRead, ReqError, Service,
};
use bluer::gatt::remote::CharacteristicWriteRequest;
use bluer::gatt::WriteOp;
use bluer::{Adapter, AdapterEvent, Device, ErrorKind, Session, Uuid};
use bluez_loopback::{Options, Testbed};
use futures::{FutureExt, StreamExt};

const ROLE: &str = "LOOPBACK_ROLE";
const SVC: Uuid = Uuid::from_u128(0x021a9004_0382_4aea_bff4_6b3f1c5adfb4);
const C_RW: Uuid = Uuid::from_u128(0x021aff51_0382_4aea_bff4_6b3f1c5adfb4);
const C_LONG_OK: Uuid = Uuid::from_u128(0x021aff52_0382_4aea_bff4_6b3f1c5adfb4);
const C_LONG_BAD: Uuid = Uuid::from_u128(0x021aff53_0382_4aea_bff4_6b3f1c5adfb4);
const C_NOTIFY: Uuid = Uuid::from_u128(0x021aff54_0382_4aea_bff4_6b3f1c5adfb4);
const C_DENY: Uuid = Uuid::from_u128(0x021aff55_0382_4aea_bff4_6b3f1c5adfb4);
const CUD: Uuid = Uuid::from_u128(0x00002901_0000_1000_8000_00805f9b34fb);

/// (name, mtu)
const SCENARIOS: &[(&str, u16)] = &[
    ("basic", 517),
    ("long_read_mtu23", 23),
    ("peripheral_disconnect", 517),
    ("adv_size", 517),
    ("notify", 517),
    ("owner_gone", 517),
];

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let res = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(45), child(&role))
                .await
                .unwrap_or_else(|_| Err(anyhow!("timed out")))
        });
        match res {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("[{role}] FAILED: {e:#}");
                std::process::exit(1);
            }
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (n, _) in SCENARIOS {
            println!("{n}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&(&str, u16)> = SCENARIOS
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} loopback scenarios", selected.len());
    let mut failed = Vec::new();
    let t0 = Instant::now();
    for (name, mtu) in selected {
        let t = Instant::now();
        let res = run_scenario(name, *mtu);
        let ms = t.elapsed().as_millis();
        match res {
            Ok(setup_ms) => {
                println!("test {name} (mtu {mtu}) ... ok ({ms} ms, testbed start {setup_ms} ms)")
            }
            Err(e) => {
                println!("test {name} (mtu {mtu}) ... FAILED ({ms} ms): {e:#}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\nloopback: {} failed; finished in {:.2} s",
        failed.len(),
        t0.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}

fn run_scenario(name: &str, mtu: u16) -> Result<u128> {
    let t = Instant::now();
    let tb = Testbed::start(Options {
        mtu,
        ..Options::default()
    })?;
    let setup = t.elapsed().as_millis();
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, name)
        .env("DBUS_SYSTEM_BUS_ADDRESS", tb.bus_address())
        .stdin(Stdio::null())
        .spawn()
        .context("spawning the scenario child")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait()? {
            ensure!(st.success(), "child exited with {st}");
            return Ok(setup);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("child timed out");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// -------------------------------------------------------------------- child side

async fn child(role: &str) -> Result<()> {
    match role {
        "basic" => basic().await,
        "long_read_mtu23" => long_read().await,
        "peripheral_disconnect" => peripheral_disconnect().await,
        "adv_size" => adv_size().await,
        "notify" => notify().await,
        "owner_gone" => owner_gone().await,
        "peripheral_only" => {
            let s = Session::new().await?;
            let _p = Peripheral::start(&s, "hci0", "PROV_GONE").await?;
            println!("ready");
            tokio::time::sleep(Duration::from_secs(40)).await;
            Ok(())
        }
        other => bail!("unknown role {other}"),
    }
}

#[derive(Debug, Clone)]
struct ReqLog {
    adapter: String,
    device: String,
    mtu: u16,
    offset: u16,
}

fn long_value() -> Vec<u8> {
    (0u8..100).collect()
}

struct Peripheral {
    _adv: AdvertisementHandle,
    _app: ApplicationHandle,
    log: Arc<Mutex<Vec<ReqLog>>>,
    long_offsets: Arc<Mutex<Vec<u16>>>,
    adapter: Adapter,
}

impl Peripheral {
    async fn start(session: &Session, adapter: &str, name: &str) -> Result<Self> {
        let adapter = session.adapter(adapter)?;
        adapter.set_powered(true).await?;
        let value = Arc::new(Mutex::new(b"initial".to_vec()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let long_offsets = Arc::new(Mutex::new(Vec::new()));
        let (v1, v2, l1, l2, lo) = (
            value.clone(),
            value.clone(),
            log.clone(),
            log.clone(),
            long_offsets.clone(),
        );
        let rw = Characteristic {
            uuid: C_RW,
            read: Some(CharacteristicRead {
                read: true,
                fun: Box::new(move |req| {
                    l1.lock().unwrap().push(ReqLog {
                        adapter: req.adapter_name.clone(),
                        device: req.device_address.to_string(),
                        mtu: req.mtu,
                        offset: req.offset,
                    });
                    let v = v1.lock().unwrap().clone();
                    async move {
                        Ok(v.get(usize::from(req.offset)..)
                            .unwrap_or_default()
                            .to_vec())
                    }
                    .boxed()
                }),
                ..Default::default()
            }),
            write: Some(CharacteristicWrite {
                write: true,
                write_without_response: true,
                method: CharacteristicWriteMethod::Fun(Box::new(move |new, req| {
                    l2.lock().unwrap().push(ReqLog {
                        adapter: req.adapter_name.clone(),
                        device: req.device_address.to_string(),
                        mtu: req.mtu,
                        offset: req.offset,
                    });
                    *v2.lock().unwrap() = new;
                    async { Ok(()) }.boxed()
                })),
                ..Default::default()
            }),
            descriptors: vec![Descriptor {
                uuid: CUD,
                read: Some(DescriptorRead {
                    read: true,
                    fun: Box::new(|_| async { Ok(b"prov-session".to_vec()) }.boxed()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let long_ok = Characteristic {
            uuid: C_LONG_OK,
            read: Some(CharacteristicRead {
                read: true,
                fun: Box::new(move |req| {
                    lo.lock().unwrap().push(req.offset);
                    async move {
                        Ok(long_value()
                            .get(usize::from(req.offset)..)
                            .unwrap_or_default()
                            .to_vec())
                    }
                    .boxed()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let long_bad = Characteristic {
            uuid: C_LONG_BAD,
            read: Some(CharacteristicRead {
                read: true,
                // Wrong on purpose: ignores req.offset.
                fun: Box::new(|_req| async { Ok(long_value()) }.boxed()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let notify = Characteristic {
            uuid: C_NOTIFY,
            notify: Some(CharacteristicNotify {
                notify: true,
                method: CharacteristicNotifyMethod::Fun(Box::new(|mut n| {
                    async move {
                        tokio::spawn(async move {
                            for i in 1..=3u8 {
                                tokio::time::sleep(Duration::from_millis(30)).await;
                                if n.notify(vec![b'n', i]).await.is_err() {
                                    break;
                                }
                            }
                            // Keep the session until the client stops it.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        });
                    }
                    .boxed()
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let deny = Characteristic {
            uuid: C_DENY,
            read: Some(CharacteristicRead {
                read: true,
                fun: Box::new(|_| async { Err(ReqError::NotPermitted) }.boxed()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let app = Application {
            services: vec![Service {
                uuid: SVC,
                primary: true,
                characteristics: vec![rw, long_ok, long_bad, notify, deny],
                ..Default::default()
            }],
            ..Default::default()
        };
        let app = adapter
            .serve_gatt_application(app)
            .await
            .context("RegisterApplication")?;
        let adv = Advertisement {
            advertisement_type: Type::Peripheral,
            service_uuids: [SVC].into_iter().collect(),
            local_name: Some(name.to_owned()),
            discoverable: Some(true),
            ..Default::default()
        };
        let adv = adapter
            .advertise(adv)
            .await
            .context("RegisterAdvertisement")?;
        Ok(Self {
            _adv: adv,
            _app: app,
            log,
            long_offsets,
            adapter,
        })
    }

    /// Addresses of connected centrals as seen on the peripheral's adapter.
    async fn connected_centrals(&self) -> Result<Vec<bluer::Address>> {
        let mut out = Vec::new();
        for a in self.adapter.device_addresses().await? {
            if self.adapter.device(a)?.is_connected().await? {
                out.push(a);
            }
        }
        Ok(out)
    }
}

async fn find(adapter: &Adapter, name: &str) -> Result<Device> {
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

async fn chars(dev: &Device) -> Result<Vec<(Uuid, bluer::gatt::remote::Characteristic)>> {
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

fn pick(
    cs: &[(Uuid, bluer::gatt::remote::Characteristic)],
    u: Uuid,
) -> Result<bluer::gatt::remote::Characteristic> {
    cs.iter()
        .find(|(x, _)| *x == u)
        .map(|(_, c)| c.clone())
        .ok_or_else(|| anyhow!("characteristic {u} missing"))
}

async fn wait_for(
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
fn request() -> CharacteristicWriteRequest {
    CharacteristicWriteRequest {
        op_type: WriteOp::Request,
        ..Default::default()
    }
}

async fn basic() -> Result<()> {
    let ps = Session::new().await?;
    let p = Peripheral::start(&ps, "hci0", "PROV_LOOP1").await?;
    let cs = Session::new().await?;
    let central = cs.adapter("hci1")?;
    let dev = find(&central, "PROV_LOOP1").await?;
    ensure!(
        dev.uuids().await?.unwrap_or_default().contains(&SVC),
        "service UUID advertised"
    );
    let t = Instant::now();
    dev.connect().await?;
    ensure!(dev.is_connected().await?, "connected");
    ensure!(dev.is_services_resolved().await?, "services resolved");
    println!("  connected in {} ms", t.elapsed().as_millis());
    let cl = chars(&dev).await?;
    ensure!(cl.len() == 5, "5 characteristics, got {}", cl.len());
    let rw = pick(&cl, C_RW)?;
    let descs = rw.descriptors().await?;
    let mut cud = None;
    for d in descs {
        if d.uuid().await? == CUD {
            cud = Some(d.read().await?);
        }
    }
    ensure!(
        cud.as_deref() == Some(&b"prov-session"[..]),
        "CUD read: {cud:?}"
    );
    // The CCC is synthesized for the notify characteristic (and only there).
    let mut ccc = BTreeSet::new();
    for (u, c) in &cl {
        for d in c.descriptors().await? {
            if d.uuid().await? == Uuid::from_u128(0x00002902_0000_1000_8000_00805f9b34fb) {
                ccc.insert(*u);
            }
        }
    }
    ensure!(ccc == [C_NOTIFY].into_iter().collect(), "CCC on {ccc:?}");

    let t = Instant::now();
    let n = 50;
    for i in 0..n {
        let msg = format!("hello {i}");
        rw.write_ext(msg.as_bytes(), &request()).await?;
        ensure!(rw.read().await? == msg.as_bytes(), "read back");
    }
    println!(
        "  {n} write+read round trips: {:.2} ms each",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    );
    // Write command: no reply wait, but delivered in order.
    rw.write_ext(
        b"cmd",
        &CharacteristicWriteRequest {
            op_type: WriteOp::Command,
            ..Default::default()
        },
    )
    .await?;
    ensure!(rw.read().await? == b"cmd", "command write delivered");

    let log = p.log.lock().unwrap().clone();
    let first = log.first().ok_or_else(|| anyhow!("no request logged"))?;
    ensure!(
        first.adapter == "hci0" && first.mtu == 517 && first.offset == 0,
        "request options: {first:?}"
    );
    let centrals = p.connected_centrals().await?;
    ensure!(
        centrals.len() == 1,
        "peripheral sees one connected central: {centrals:?}"
    );
    ensure!(
        first.device == centrals[0].to_string(),
        "request device {} is the central {}",
        first.device,
        centrals[0]
    );

    // App errors pass through unchanged.
    let err = pick(&cl, C_DENY)?
        .read()
        .await
        .err()
        .ok_or_else(|| anyhow!("deny read succeeded"))?;
    ensure!(
        err.kind == ErrorKind::NotPermitted,
        "error passed through: {err:?}"
    );

    // Central-side disconnect.
    dev.disconnect().await?;
    ensure!(!dev.is_connected().await?, "disconnected");
    ensure!(!dev.is_services_resolved().await?, "services unresolved");
    ensure!(
        p.connected_centrals().await?.is_empty(),
        "peripheral lost its central"
    );
    ensure!(
        dev.services().await.map(|s| s.is_empty()).unwrap_or(true),
        "mirrors removed"
    );
    // Reconnect works.
    dev.connect().await?;
    ensure!(
        chars(&dev).await?.len() == 5,
        "services again after reconnect"
    );
    dev.disconnect().await?;
    Ok(())
}

async fn long_read() -> Result<()> {
    let ps = Session::new().await?;
    let p = Peripheral::start(&ps, "hci0", "PROV_LONG").await?;
    let cs = Session::new().await?;
    let dev = find(&cs.adapter("hci1")?, "PROV_LONG").await?;
    dev.connect().await?;
    let cl = chars(&dev).await?;
    let ok = pick(&cl, C_LONG_OK)?;
    let bad = pick(&cl, C_LONG_BAD)?;
    let lv = long_value();

    ensure!(
        ok.read().await? == lv,
        "offset-honouring app: full 100-byte value"
    );
    let offs = p.long_offsets.lock().unwrap().clone();
    ensure!(offs == [0, 22, 44, 66, 88], "app saw offsets {offs:?}");

    let wrong = bad.read().await?;
    ensure!(
        wrong != lv,
        "an app that ignores offset must not read right"
    );
    ensure!(
        wrong.len() == 512,
        "repeated prefix up to 512 bytes, got {}",
        wrong.len()
    );
    ensure!(
        wrong.chunks(22).all(|c| c == &lv[..c.len()]),
        "repeated 22-byte prefix"
    );
    println!(
        "  ignoring offset gives {} bytes of the repeated 22-byte prefix",
        wrong.len()
    );

    // A central offset read is forwarded once (one Read Blob).
    p.long_offsets.lock().unwrap().clear();
    let part = ok
        .read_ext(&bluer::gatt::remote::CharacteristicReadRequest {
            offset: 30,
            ..Default::default()
        })
        .await?;
    ensure!(part == lv[30..52], "offset read: {part:?}");
    ensure!(
        *p.long_offsets.lock().unwrap() == [30],
        "one app call at offset 30"
    );

    // Long writes are one WriteValue; the read back is a long read.
    let rw = pick(&cl, C_RW)?;
    let big: Vec<u8> = (0..60u8).rev().collect();
    rw.write_ext(&big, &request()).await?;
    ensure!(rw.read().await? == big, "60-byte write+read at mtu 23");
    let log = p.log.lock().unwrap().clone();
    ensure!(log.iter().all(|l| l.mtu == 23), "mtu option is 23");
    // Write command larger than MTU-3 is refused, as bluetoothd does ("Failed to initiate write").
    let r = rw
        .write_ext(
            &big,
            &CharacteristicWriteRequest {
                op_type: WriteOp::Command,
                ..Default::default()
            },
        )
        .await;
    ensure!(r.is_err(), "oversized write command refused");
    Ok(())
}

async fn peripheral_disconnect() -> Result<()> {
    let ps = Session::new().await?;
    let p = Peripheral::start(&ps, "hci0", "PROV_KICK").await?;
    let cs = Session::new().await?;
    let dev = find(&cs.adapter("hci1")?, "PROV_KICK").await?;
    dev.connect().await?;
    let centrals = p.connected_centrals().await?;
    ensure!(centrals.len() == 1, "one central: {centrals:?}");
    // The device drops its client (e.g. after a bad PDU).
    p.adapter.device(centrals[0])?.disconnect().await?;
    let d = dev.clone();
    wait_for("central sees the disconnect", move || {
        let d = d.clone();
        async move { Ok(!d.is_connected().await?) }.boxed()
    })
    .await?;
    ensure!(p.connected_centrals().await?.is_empty(), "peer device gone");
    ensure!(
        !p.adapter.device_addresses().await?.contains(&centrals[0]),
        "peer Device1 removed"
    );
    Ok(())
}

async fn adv_size() -> Result<()> {
    let ps = Session::new().await?;
    let a = ps.adapter("hci0")?;
    let adv = |name: &str, mfr: Option<Vec<u8>>| Advertisement {
        advertisement_type: Type::Peripheral,
        service_uuids: [SVC].into_iter().collect(),
        local_name: Some(name.to_owned()),
        manufacturer_data: mfr.into_iter().map(|m| (0x02e5u16, m)).collect(),
        discoverable: Some(true),
        ..Default::default()
    };
    // 3 (flags) + 18 (128-bit UUID) + 16 (name) > 31: the name goes to the scan response.
    let _ok = a
        .advertise(adv("PROV_1234567890", None))
        .await
        .context("name in scan response")?;
    let too_long = a.advertise(adv(&"N".repeat(30), None)).await;
    ensure!(too_long.is_err(), "a 30-byte name fits nowhere");
    let too_much = a.advertise(adv("P", Some(vec![0; 10]))).await;
    ensure!(
        too_much.is_err(),
        "flags + uuid + 14 bytes of manufacturer data > 31"
    );
    let err = too_much.err().unwrap();
    println!("  rejected: {err}");
    let cs = Session::new().await?;
    let dev = find(&cs.adapter("hci1")?, "PROV_1234567890").await?;
    ensure!(
        dev.uuids().await?.unwrap_or_default().contains(&SVC),
        "uuid seen"
    );
    Ok(())
}

async fn notify() -> Result<()> {
    let ps = Session::new().await?;
    let _p = Peripheral::start(&ps, "hci0", "PROV_NOTE").await?;
    let cs = Session::new().await?;
    // The central on the peripheral's own adapter works too (every adapter sees every advertisement).
    let dev = find(&cs.adapter("hci0")?, "PROV_NOTE").await?;
    dev.connect().await?;
    let cl = chars(&dev).await?;
    let c = pick(&cl, C_NOTIFY)?;
    let mut stream = Box::pin(c.notify().await?);
    let mut got = Vec::new();
    while got.len() < 3 {
        let v = tokio::time::timeout(Duration::from_secs(3), stream.next())
            .await
            .map_err(|_| anyhow!("notification timeout after {got:?}"))?
            .ok_or_else(|| anyhow!("stream ended"))?;
        got.push(v);
    }
    ensure!(
        got == [b"n\x01".to_vec(), b"n\x02".to_vec(), b"n\x03".to_vec()],
        "notifications {got:?}"
    );
    ensure!(c.notifying().await?.unwrap_or(false), "Notifying=true");
    drop(stream);
    let c2 = c.clone();
    wait_for("StopNotify after dropping the stream", move || {
        let c = c2.clone();
        async move { Ok(!c.notifying().await?.unwrap_or(true)) }.boxed()
    })
    .await?;
    dev.disconnect().await?;
    Ok(())
}

async fn owner_gone() -> Result<()> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .env(ROLE, "peripheral_only")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line).await?;
    ensure!(line.trim() == "ready", "peripheral child: {line:?}");
    let cs = Session::new().await?;
    let central = cs.adapter("hci1")?;
    let dev = find(&central, "PROV_GONE").await?;
    dev.connect().await?;
    ensure!(!chars(&dev).await?.is_empty(), "services");
    child.kill().await?;
    let (d, addr) = (central.clone(), dev.address());
    wait_for(
        "device removed after the peripheral process died",
        move || {
            let d = d.clone();
            async move { Ok(!d.device_addresses().await?.contains(&addr)) }.boxed()
        },
    )
    .await?;
    Ok(())
}
