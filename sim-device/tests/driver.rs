//! The device task (runtime::driver) in process: an injected RNG factory is asked once per boot, and a
//! crash (misbehaviour `crash-on-missing-payload`) is a reboot to the client.

use std::sync::{Arc, Mutex};

use sim_device::runtime::world::{WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, ControlOp, RequestError, SimOptions};
use sim_device::{DeviceConfig, DeviceRng, Misbehaviour, SeededRng};

fn options(device: DeviceConfig, boots: &Arc<Mutex<Vec<u64>>>) -> SimOptions {
    let seen = Arc::clone(boots);
    SimOptions {
        device,
        world: WorldFile::from_toml(DEFAULT_WORLD)
            .and_then(|w| w.to_world())
            .expect("default world"),
        store: None,
        seed: None,
        rng: Some(Arc::new(move |boot| -> Box<dyn DeviceRng> {
            seen.lock().unwrap().push(boot);
            Box::new(SeededRng::new(&boot.to_be_bytes()))
        })),
    }
}

#[tokio::test]
async fn rng_factory_is_used_for_every_boot() {
    let boots = Arc::new(Mutex::new(Vec::new()));
    let handle = runtime::spawn(options(DeviceConfig::default(), &boots)).unwrap();
    handle.control(ControlOp::Reboot).await.unwrap();
    assert_eq!(*boots.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn a_crash_reboots_the_device() {
    let boots = Arc::new(Mutex::new(Vec::new()));
    let device = DeviceConfig {
        misbehave: [Misbehaviour::CrashOnMissingPayload].into(),
        ..DeviceConfig::default()
    };
    let handle = runtime::spawn(options(device, &boots)).unwrap();
    assert!(handle
        .misbehaviours()
        .contains(&Misbehaviour::CrashOnMissingPayload));
    // SetConfig without its payload.
    let err = handle.request(0, "prov-config", 1, vec![0x08, 0x02]).await;
    assert!(matches!(err, Err(RequestError::Rebooted)), "{err:?}");
    let mut status = handle.status();
    let status = status.wait_for(|s| s.boot == 1).await.unwrap().clone();
    assert!(status.serving);
    assert_eq!(*boots.lock().unwrap(), [0, 1]);
}
