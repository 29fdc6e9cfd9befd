//! The `proto-ver` JSON of every profile the simulator reproduces, for every scheme, as snapshots
//! (`insta`): what clients parse first, so any change to it must be seen and approved. The ESP-IDF
//! 5.5 documents are also checked byte for byte against the golden vectors by `vectors replay`.

use std::time::Instant;

use sim_device::{Device, DeviceConfig, Profile, Security, SeededRng};

fn version(profile: Profile, security: Security) -> String {
    let config = DeviceConfig {
        profile,
        security,
        ..DeviceConfig::default()
    };
    let device = Device::new(config, Box::new(SeededRng::new(b"version")), Instant::now());
    String::from_utf8(device.version_json().to_vec()).expect("proto-ver JSON is UTF-8")
}

#[test]
fn proto_ver_of_every_profile() {
    for profile in Profile::SIMULATED {
        for sec in 0..=2u8 {
            let security = Security::example(sec, &[0x5a; 16]).expect("scheme");
            insta::assert_snapshot!(
                format!("{}-sec{sec}", profile.name()),
                version(profile, security)
            );
        }
        let no_pop = Security::Sec1 { pop: None };
        insta::assert_snapshot!(
            format!("{}-sec1-no-pop", profile.name()),
            version(profile, no_pop)
        );
    }
}
