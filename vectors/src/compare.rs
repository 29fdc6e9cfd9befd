//! Structural comparison of responses flagged `nondeterministic`.
//!
//! Some recorded responses contain bytes the oracle's device read from uninitialised or freed heap
//! memory (ESP-IDF copies the connected BSSID with `strndup()` but declares 6 bytes). Their exact bytes
//! are meaningless, so for those steps the harness recovers the device's plaintext, decodes it as the
//! endpoint's protobuf message and compares field by field, ignoring only the heap garbage.
//!
//! Plaintext recovery works without the session key: the response was encrypted with the same
//! keystream (security 1: AES-CTR; security 2: AES-GCM, whose body is CTR) at the same position as the
//! recorded one, so `ours_plain = ours_wire ^ expected_wire ^ expected_plain`.

use std::fmt::Debug;

use proto::protocomm::SessionData;
use proto::wifi_prov::{
    resp_get_status, wi_fi_config_payload, WiFiConfigPayload, WiFiCtrlPayload, WiFiScanPayload,
};
use proto::Message;

/// Length of the AES-GCM tag that follows the ciphertext under security 2.
const GCM_TAG_LEN: usize = 16;

/// Recovers the device's plaintext from its wire response `ours`, given the recorded wire bytes and
/// recorded plaintext of the same step (`None`: the wire bytes are the plaintext).
///
/// `ours` and `expected_wire` must have the same length. When the recorded plaintext is 16 bytes
/// shorter than the wire bytes the response is taken to be AES-GCM (security 2) and the tag is ignored.
pub fn recover_plaintext(
    ours: &[u8],
    expected_wire: &[u8],
    expected_plain: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    if ours.len() != expected_wire.len() {
        return Err(format!(
            "response length {} differs from the recorded {}",
            ours.len(),
            expected_wire.len()
        ));
    }
    let Some(plain) = expected_plain else {
        return Ok(ours.to_vec());
    };
    let body = if plain.len() == expected_wire.len() {
        expected_wire.len()
    } else if plain.len() + GCM_TAG_LEN == expected_wire.len() {
        plain.len()
    } else {
        return Err(format!(
            "recorded plaintext has {} bytes for {} wire bytes (neither CTR nor GCM framing)",
            plain.len(),
            expected_wire.len()
        ));
    };
    Ok(ours[..body]
        .iter()
        .zip(&expected_wire[..body])
        .zip(plain)
        .map(|((o, w), p)| o ^ w ^ p)
        .collect())
}

/// Compares two plaintext responses of `endpoint` structurally.
///
/// `prov-config`, `prov-scan`, `prov-ctrl` and `prov-session` are decoded as their protobuf messages;
/// any other endpoint is compared byte for byte. In `resp_get_status.connected.bssid`, bytes after the
/// first 0x00 byte of the expected BSSID are ignored (heap over-read in ESP-IDF); its length still has
/// to match.
pub fn compare_structure(endpoint: &str, ours: &[u8], expected: &[u8]) -> Result<(), String> {
    match endpoint {
        "prov-config" => {
            let (mut ours, expected) = decode_pair::<WiFiConfigPayload>(ours, expected)?;
            mask_connected_bssid(&mut ours, &expected)?;
            compare_config(&ours, &expected)
        }
        "prov-scan" => {
            let (ours, expected) = decode_pair::<WiFiScanPayload>(ours, expected)?;
            same("WiFiScanPayload", &ours, &expected)
        }
        "prov-ctrl" => {
            let (ours, expected) = decode_pair::<WiFiCtrlPayload>(ours, expected)?;
            same("WiFiCtrlPayload", &ours, &expected)
        }
        "prov-session" => {
            let (ours, expected) = decode_pair::<SessionData>(ours, expected)?;
            same("SessionData", &ours, &expected)
        }
        _ if ours == expected => Ok(()),
        _ => Err(format!(
            "plaintext {} differs from the recorded {}",
            hex::encode(ours),
            hex::encode(expected)
        )),
    }
}

fn decode_pair<M: Message + Default>(ours: &[u8], expected: &[u8]) -> Result<(M, M), String> {
    let name = std::any::type_name::<M>()
        .rsplit("::")
        .next()
        .unwrap_or("message");
    let expected = M::decode(expected)
        .map_err(|e| format!("recorded plaintext does not decode as {name}: {e}"))?;
    let ours =
        M::decode(ours).map_err(|e| format!("our plaintext does not decode as {name}: {e}"))?;
    Ok((ours, expected))
}

fn same<T: Debug + PartialEq>(what: &str, ours: &T, expected: &T) -> Result<(), String> {
    if ours == expected {
        Ok(())
    } else {
        Err(format!("{what}: ours {ours:?}, expected {expected:?}"))
    }
}

fn connected(p: &WiFiConfigPayload) -> Option<&proto::wifi_prov::WifiConnectedState> {
    match &p.payload {
        Some(wi_fi_config_payload::Payload::RespGetStatus(r)) => match &r.state {
            Some(resp_get_status::State::Connected(c)) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// Checks the meaningful part of `connected.bssid` and then overwrites the garbage part of ours with
/// the recorded bytes, so that the remaining comparison can be plain equality.
fn mask_connected_bssid(
    ours: &mut WiFiConfigPayload,
    expected: &WiFiConfigPayload,
) -> Result<(), String> {
    let Some(exp) = connected(expected) else {
        return Ok(());
    };
    let exp_bssid = exp.bssid.clone();
    let Some(wi_fi_config_payload::Payload::RespGetStatus(r)) = &mut ours.payload else {
        return Ok(());
    };
    let Some(resp_get_status::State::Connected(c)) = &mut r.state else {
        return Ok(());
    };
    if c.bssid.len() != exp_bssid.len() {
        return Err(format!(
            "resp_get_status.connected.bssid: ours {} ({} bytes), expected {} ({} bytes)",
            hex::encode(&c.bssid),
            c.bssid.len(),
            hex::encode(&exp_bssid),
            exp_bssid.len()
        ));
    }
    let meaningful = exp_bssid
        .iter()
        .position(|&b| b == 0)
        .map_or(exp_bssid.len(), |i| i + 1);
    if c.bssid[..meaningful] != exp_bssid[..meaningful] {
        return Err(format!(
            "resp_get_status.connected.bssid: ours {}, expected {} (first {meaningful} byte(s) compared)",
            hex::encode(&c.bssid),
            hex::encode(&exp_bssid)
        ));
    }
    c.bssid = exp_bssid;
    Ok(())
}

fn compare_config(ours: &WiFiConfigPayload, expected: &WiFiConfigPayload) -> Result<(), String> {
    same("WiFiConfigPayload.msg", &ours.msg, &expected.msg)?;
    if let (
        Some(wi_fi_config_payload::Payload::RespGetStatus(o)),
        Some(wi_fi_config_payload::Payload::RespGetStatus(e)),
    ) = (&ours.payload, &expected.payload)
    {
        same("resp_get_status.status", &o.status, &e.status)?;
        same("resp_get_status.sta_state", &o.sta_state, &e.sta_state)?;
        if let (
            Some(resp_get_status::State::Connected(oc)),
            Some(resp_get_status::State::Connected(ec)),
        ) = (&o.state, &e.state)
        {
            same(
                "resp_get_status.connected.ip4_addr",
                &oc.ip4_addr,
                &ec.ip4_addr,
            )?;
            same(
                "resp_get_status.connected.auth_mode",
                &oc.auth_mode,
                &ec.auth_mode,
            )?;
            same("resp_get_status.connected.ssid", &oc.ssid, &ec.ssid)?;
            same("resp_get_status.connected.bssid", &oc.bssid, &ec.bssid)?;
            same(
                "resp_get_status.connected.channel",
                &oc.channel,
                &ec.channel,
            )?;
        }
        return same("resp_get_status.state", &o.state, &e.state);
    }
    same(
        "WiFiConfigPayload.payload",
        &ours.payload,
        &expected.payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_recovery_ctr_and_gcm() {
        let plain = [1u8, 2, 3, 4];
        let key = [0x55u8, 0xaa, 0x0f, 0xf0];
        let wire: Vec<u8> = plain.iter().zip(key).map(|(p, k)| p ^ k).collect();
        let ours_plain = [9u8, 2, 3, 4];
        let ours: Vec<u8> = ours_plain.iter().zip(key).map(|(p, k)| p ^ k).collect();
        assert_eq!(
            recover_plaintext(&ours, &wire, Some(&plain)).as_deref(),
            Ok(&ours_plain[..])
        );
        // GCM: 16 trailing tag bytes are ignored.
        let mut wire_gcm = wire.clone();
        wire_gcm.extend([0u8; 16]);
        let mut ours_gcm = ours.clone();
        ours_gcm.extend([7u8; 16]);
        assert_eq!(
            recover_plaintext(&ours_gcm, &wire_gcm, Some(&plain)).as_deref(),
            Ok(&ours_plain[..])
        );
        assert!(recover_plaintext(&ours, &wire[..3], Some(&plain)).is_err());
    }

    #[test]
    fn bssid_garbage_after_first_zero_is_ignored() {
        // Recorded: GetStatus connected, bssid 0a 00 50 88 01 56 (heap garbage after 0x00).
        let expected = hex::decode(
            "08015a285a260a0a3139322e302e322e32331a0e5a65726f427974652d425353494422060a00508801562809",
        )
        .unwrap_or_default();
        let mut fixed = expected.clone();
        // bssid bytes sit just before the trailing channel field (28 09).
        let at = fixed.len() - 8;
        fixed[at + 2..at + 6].copy_from_slice(&[0, 0, 0, 8]);
        assert_eq!(compare_structure("prov-config", &fixed, &expected), Ok(()));
        // The byte before the first zero is still compared.
        let mut wrong = expected.clone();
        wrong[at] = 0x0b;
        assert!(compare_structure("prov-config", &wrong, &expected).is_err());
        // Other fields are still compared (channel 9 -> 10).
        let mut wrong = expected.clone();
        let last = wrong.len() - 1;
        wrong[last] = 10;
        assert!(compare_structure("prov-config", &wrong, &expected).is_err());
    }
}
