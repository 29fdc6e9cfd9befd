//! Which implementation family the expectations come from (spec §8). Where ESP-IDF 5.5,
//! network_provisioning 1.2 and the Zephyr port legitimately differ, a case asks the profile.

use std::fmt;
use std::str::FromStr;

/// The family whose behaviour a device is judged against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// ESP-IDF v5.5 `wifi_provisioning` (the golden vectors).
    #[default]
    EspIdf55,
    /// idf-extra-components `network_provisioning` 1.2.x.
    NetworkProv12,
    /// The Zephyr port (beriberikix/network-provisioning-zephyr), spec §8.1.
    Zephyr,
}

impl Profile {
    /// Every profile, in help order.
    pub const ALL: [Self; 3] = [Self::EspIdf55, Self::NetworkProv12, Self::Zephyr];

    /// Name on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::EspIdf55 => "esp-idf-5.5",
            Self::NetworkProv12 => "network-prov-1.2",
            Self::Zephyr => "zephyr",
        }
    }

    /// `prov.ver` in the proto-ver JSON.
    pub fn version_string(self) -> &'static str {
        match self {
            Self::EspIdf55 | Self::Zephyr => "v1.1",
            Self::NetworkProv12 => "netprov-v1.2",
        }
    }

    /// The simulator profile that reproduces this family, if it has one.
    pub fn sim_profile(self) -> Option<sim_device::Profile> {
        match self {
            Self::EspIdf55 => Some(sim_device::Profile::EspIdf55),
            Self::NetworkProv12 => Some(sim_device::Profile::NetworkProv12),
            Self::Zephyr => None,
        }
    }

    /// Security schemes the family supports.
    pub fn supports_security(self, sec: u8) -> bool {
        match self {
            Self::Zephyr => sec <= 1,
            _ => sec <= 2,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown profile {s:?}; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}
