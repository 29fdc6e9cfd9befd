//! The GATT peripheral side of the scenarios: a bluer application with read/write, long-read,
//! notify and error characteristics, advertised under a given name, logging what it is asked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bluer::adv::{Advertisement, AdvertisementHandle, Type};
use bluer::gatt::local::{
    Application, ApplicationHandle, Characteristic, CharacteristicNotify,
    CharacteristicNotifyMethod, CharacteristicRead, CharacteristicWrite, CharacteristicWriteMethod,
    Descriptor, DescriptorRead, ReqError, Service,
};
use bluer::{Adapter, Session};
use futures::FutureExt;

use crate::{CUD, C_DENY, C_LONG_BAD, C_LONG_OK, C_NOTIFY, C_RW, SVC};

#[derive(Debug, Clone)]
pub(crate) struct ReqLog {
    pub(crate) adapter: String,
    pub(crate) device: String,
    pub(crate) mtu: u16,
    pub(crate) offset: u16,
}

impl ReqLog {
    fn new(adapter: &str, device: bluer::Address, mtu: u16, offset: u16) -> Self {
        Self {
            adapter: adapter.to_owned(),
            device: device.to_string(),
            mtu,
            offset,
        }
    }
}

pub(crate) fn long_value() -> Vec<u8> {
    (0u8..100).collect()
}

pub(crate) struct Peripheral {
    _adv: AdvertisementHandle,
    _app: ApplicationHandle,
    pub(crate) log: Arc<Mutex<Vec<ReqLog>>>,
    pub(crate) long_offsets: Arc<Mutex<Vec<u16>>>,
    pub(crate) adapter: Adapter,
}

impl Peripheral {
    pub(crate) async fn start(session: &Session, adapter: &str, name: &str) -> Result<Self> {
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
                    l1.lock().unwrap().push(ReqLog::new(
                        &req.adapter_name,
                        req.device_address,
                        req.mtu,
                        req.offset,
                    ));
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
                    l2.lock().unwrap().push(ReqLog::new(
                        &req.adapter_name,
                        req.device_address,
                        req.mtu,
                        req.offset,
                    ));
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
    pub(crate) async fn connected_centrals(&self) -> Result<Vec<bluer::Address>> {
        let mut out = Vec::new();
        for a in self.adapter.device_addresses().await? {
            if self.adapter.device(a)?.is_connected().await? {
                out.push(a);
            }
        }
        Ok(out)
    }
}
