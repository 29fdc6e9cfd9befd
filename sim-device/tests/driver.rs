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
        virtual_clock: false,
        event_history: sim_device::runtime::DEFAULT_HISTORY,
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

/// On the virtual clock, time stands still until `Advance`: an applied config does not connect while
/// wall-clock time passes, and connects as soon as enough virtual time is advanced.
#[tokio::test]
async fn virtual_clock_moves_only_on_advance() {
    use prost::Message;
    use proto::wifi_prov::{wi_fi_config_payload::Payload, CmdSetConfig, WiFiConfigPayload};
    use sim_device::StationState;

    let boots = Arc::new(Mutex::new(Vec::new()));
    let mut opts = options(DeviceConfig::default(), &boots);
    opts.virtual_clock = true;
    let handle = runtime::spawn(opts).unwrap();
    let set = WiFiConfigPayload {
        msg: 2,
        payload: Some(Payload::CmdSetConfig(CmdSetConfig {
            ssid: b"myssid".to_vec(),
            passphrase: b"mypassword".to_vec(),
            ..Default::default()
        })),
    };
    handle
        .request(0, "prov-config", 1, set.encode_to_vec())
        .await
        .unwrap();
    handle
        .request(0, "prov-config", 1, vec![0x08, 0x04])
        .await
        .unwrap();
    // The connect takes 1000 ms (manager) + 500 ms (world): twice that in wall-clock time changes nothing.
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    assert_eq!(
        handle.status().borrow().station_state,
        StationState::Connecting
    );
    handle
        .control(ControlOp::Advance(std::time::Duration::from_millis(1600)))
        .await
        .unwrap();
    assert_eq!(
        handle.status().borrow().station_state,
        StationState::Connected
    );
}
