//! `LEAdvertisement1` parsing and the 31-byte legacy payload check.

use std::collections::HashMap;

use dbus::arg::{PropMap, RefArg};

use crate::values::{
    bytes_of, get_bool, get_str, get_u16, normalize_uuid, strings_of, uuid_ad_len, Val,
};

/// Legacy advertising (and scan response) payload limit.
pub(crate) const LEGACY_MAX: usize = 31;

/// What a central sees of an advertisement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AdvInfo {
    pub(crate) local_name: Option<String>,
    pub(crate) uuids: Vec<String>,
    pub(crate) manufacturer: Vec<(u16, Vec<u8>)>,
    pub(crate) service_data: Vec<(String, Vec<u8>)>,
    pub(crate) appearance: Option<u16>,
    pub(crate) tx_power: Option<i16>,
    /// Bytes used in the advertising PDU, and in the scan response.
    pub(crate) adv_len: usize,
    pub(crate) scan_rsp_len: usize,
    pub(crate) name_in_scan_response: bool,
}

fn uuid_list_len(uuids: &[String]) -> usize {
    let mut by_size: HashMap<usize, usize> = HashMap::new();
    for u in uuids {
        *by_size.entry(uuid_ad_len(u)).or_default() += uuid_ad_len(u);
    }
    by_size.values().map(|n| 2 + n).sum()
}

/// Parses `Properties.GetAll(org.bluez.LEAdvertisement1)` and fits it into 31 + 31 bytes the
/// way bluetoothd does: flags and data first, then the name in the advertisement if it fits,
/// else in the scan response. `Err` is a message for `org.bluez.Error.InvalidLength`.
pub(crate) fn parse(p: &PropMap, adapter_alias: &str) -> Result<AdvInfo, String> {
    let mut info = AdvInfo::default();
    let includes = p
        .get("Includes")
        .map(|x| strings_of(&*x.0))
        .unwrap_or_default();
    info.uuids = p
        .get("ServiceUUIDs")
        .map(|x| strings_of(&*x.0))
        .unwrap_or_default();
    info.uuids = info.uuids.iter().map(|u| normalize_uuid(u)).collect();
    let solicit = p
        .get("SolicitUUIDs")
        .map(|x| strings_of(&*x.0))
        .unwrap_or_default();
    if let Some(m) = p.get("ManufacturerData") {
        if let Some(it) = m.0.as_iter() {
            let items: Vec<&dyn RefArg> = it.collect();
            for kv in items.chunks(2) {
                if let [k, val] = kv {
                    let id = k.as_u64().and_then(|n| u16::try_from(n).ok());
                    if let (Some(id), Some(b)) = (id, bytes_of(*val)) {
                        info.manufacturer.push((id, b));
                    }
                }
            }
        }
    }
    if let Some(m) = p.get("ServiceData") {
        if let Some(it) = m.0.as_iter() {
            let items: Vec<&dyn RefArg> = it.collect();
            for kv in items.chunks(2) {
                if let [k, val] = kv {
                    if let (Some(u), Some(b)) = (k.as_str(), bytes_of(*val)) {
                        info.service_data.push((normalize_uuid(u), b));
                    }
                }
            }
        }
    }
    let mut raw_data_len = 0;
    if let Some(m) = p.get("Data") {
        if let Some(it) = m.0.as_iter() {
            let items: Vec<&dyn RefArg> = it.collect();
            for kv in items.chunks(2) {
                if let [_, val] = kv {
                    raw_data_len += 2 + bytes_of(*val).map_or(0, |b| b.len());
                }
            }
        }
    }
    info.appearance = get_u16(p, "Appearance");
    if includes.iter().any(|i| i == "appearance") && info.appearance.is_none() {
        info.appearance = Some(0);
    }
    info.tx_power = p
        .get("TxPower")
        .and_then(|x| x.0.as_i64())
        .and_then(|n| i16::try_from(n).ok());
    if includes.iter().any(|i| i == "tx-power") && info.tx_power.is_none() {
        info.tx_power = Some(0);
    }
    info.local_name = get_str(p, "LocalName");
    if info.local_name.is_none() && includes.iter().any(|i| i == "local-name") {
        info.local_name = Some(adapter_alias.to_owned());
    }
    let typ = get_str(p, "Type").unwrap_or_else(|| "peripheral".into());
    let discoverable = get_bool(p, "Discoverable").unwrap_or(false);

    let mut len = 0;
    if typ == "peripheral" || discoverable {
        len += 3; // Flags
    }
    len += uuid_list_len(&info.uuids) + uuid_list_len(&solicit);
    len += info
        .manufacturer
        .iter()
        .map(|(_, d)| 4 + d.len())
        .sum::<usize>();
    len += info
        .service_data
        .iter()
        .map(|(u, d)| 2 + uuid_ad_len(u) + d.len())
        .sum::<usize>();
    len += raw_data_len;
    if info.appearance.is_some() {
        len += 4;
    }
    if info.tx_power.is_some() {
        len += 3;
    }
    if len > LEGACY_MAX {
        return Err(format!(
            "advertising data is {len} bytes without the name; the legacy limit is {LEGACY_MAX}"
        ));
    }
    info.adv_len = len;
    if let Some(name) = &info.local_name {
        let need = 2 + name.len();
        if len + need <= LEGACY_MAX {
            info.adv_len += need;
        } else if need <= LEGACY_MAX {
            info.scan_rsp_len = need;
            info.name_in_scan_response = true;
        } else {
            return Err(format!(
                "local name {name:?} ({} bytes) fits neither the advertisement ({} bytes free) nor the \
                 scan response (29 bytes max)",
                name.len(),
                LEGACY_MAX.saturating_sub(len + 2)
            ));
        }
    }
    Ok(info)
}

/// `ManufacturerData` as Device1 carries it (`a{qv}`).
pub(crate) fn manufacturer_prop(info: &AdvInfo) -> HashMap<u16, Val> {
    info.manufacturer
        .iter()
        .map(|(k, d)| (*k, crate::values::v(d.clone())))
        .collect()
}

/// `ServiceData` as Device1 carries it (`a{sv}`).
pub(crate) fn service_data_prop(info: &AdvInfo) -> HashMap<String, Val> {
    info.service_data
        .iter()
        .map(|(k, d)| (k.clone(), crate::values::v(d.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::v;

    fn adv(name: &str, uuid: &str) -> PropMap {
        let mut p = PropMap::new();
        p.insert("Type".into(), v("peripheral".to_owned()));
        p.insert("ServiceUUIDs".into(), v(vec![uuid.to_owned()]));
        p.insert("LocalName".into(), v(name.to_owned()));
        p
    }

    #[test]
    fn esp_style_name_goes_to_scan_response() {
        // flags 3 + 128-bit uuid 18 = 21; "PROV_123456" needs 13 -> 34 > 31.
        let i = parse(
            &adv("PROV_123456", "021a9004-0382-4aea-bff4-6b3f1c5adfb4"),
            "x",
        )
        .unwrap();
        assert!(i.name_in_scan_response);
        assert_eq!(i.adv_len, 21);
        assert_eq!(i.scan_rsp_len, 13);
        // A short name fits in the advertisement.
        let i = parse(&adv("PROV_1", "021a9004-0382-4aea-bff4-6b3f1c5adfb4"), "x").unwrap();
        assert!(!i.name_in_scan_response);
        assert_eq!(i.adv_len, 29);
    }

    #[test]
    fn too_long_name_rejected() {
        let name = "N".repeat(30);
        assert!(parse(&adv(&name, "180f"), "x").is_err());
        assert!(parse(&adv(&"N".repeat(29), "180f"), "x").is_ok());
    }

    #[test]
    fn too_much_data_rejected() {
        let mut p = adv("x", "021a9004-0382-4aea-bff4-6b3f1c5adfb4");
        let mut m: HashMap<u16, Val> = HashMap::new();
        m.insert(0x02e5, v(vec![0u8; 8]));
        p.insert("ManufacturerData".into(), v(m));
        // 21 + 12 = 33
        assert!(parse(&p, "x").is_err());
    }
}
