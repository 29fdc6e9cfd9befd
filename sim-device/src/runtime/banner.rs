//! Start-up output, as the ESP-IDF provisioning example prints it (spec §6.5): the service name, the QR
//! payload JSON, the QR code itself, where the device listens, and the esp_prov command that provisions it.
//!
//! Secrets appear here only when the person who started the simulator asks (`--show-secrets`; the example
//! prints its PoP in the QR payload); by default the binary passes placeholders. Logs never contain them.

use std::fmt::Write as _;
use std::net::SocketAddr;

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// `PROV_` + the last three bytes of the station MAC, upper-case hex (spec §6.5).
pub fn service_name(mac: &[u8; 6]) -> String {
    format!("PROV_{:02X}{:02X}{:02X}", mac[3], mac[4], mac[5])
}

/// What a phone needs to find and open the device, as the example's QR payload.
#[derive(Clone, Debug)]
pub struct QrInfo<'a> {
    /// Service name (SoftAP SSID / BLE name).
    pub name: &'a str,
    /// `softap` or `ble`.
    pub transport: &'a str,
    /// Security 1 PoP, or the Security 2 password.
    pub pop: Option<&'a str>,
    /// Security 2 username.
    pub username: Option<&'a str>,
}

/// The QR payload JSON: no spaces, keys in the example's order.
pub fn qr_payload(q: &QrInfo<'_>) -> String {
    let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
    let mut out = format!("{{\"ver\":\"v1\",\"name\":{}", s(q.name));
    if let Some(u) = q.username {
        let _ = write!(out, ",\"username\":{}", s(u));
    }
    if let Some(p) = q.pop {
        let _ = write!(out, ",\"pop\":{}", s(p));
    }
    let _ = write!(out, ",\"transport\":{}}}", s(q.transport));
    out
}

/// The QR code drawn with Unicode half blocks (two modules per character cell), or `None` if the payload
/// does not fit a QR code.
pub fn qr_text(payload: &str) -> Option<String> {
    let code = QrCode::new(payload.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// The link the example prints for terminals that cannot show the QR code.
pub fn qr_link(payload: &str) -> String {
    let mut enc = String::new();
    for b in payload.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            let _ = write!(enc, "%{b:02X}");
        }
    }
    format!("https://espressif.github.io/esp-jumpstart/qrcode.html?data={enc}")
}

/// How esp_prov reaches the device.
#[derive(Clone, Debug)]
pub struct EspProvArgs<'a> {
    /// HTTP address.
    pub addr: SocketAddr,
    /// Security scheme.
    pub sec_ver: u32,
    /// PoP (Security 1).
    pub pop: Option<&'a str>,
    /// Username and password (Security 2), when known.
    pub sec2: Option<(&'a str, &'a str)>,
    /// The passphrase of `myssid` (or a placeholder).
    pub passphrase: &'a str,
}

/// The passphrase of `myssid` in the default world (and Espressif's esp_prov examples).
pub const EXAMPLE_PASSPHRASE: &str = "mypassword";

/// esp_prov's arguments to provision the device onto `myssid` (the default world's home network).
pub fn esp_prov_args(a: &EspProvArgs<'_>) -> Vec<String> {
    let mut v = vec![
        "--transport".to_owned(),
        "softap".to_owned(),
        "--service_name".to_owned(),
        a.addr.to_string(),
        "--sec_ver".to_owned(),
        a.sec_ver.to_string(),
    ];
    if let Some(p) = a.pop {
        v.extend(["--pop".to_owned(), p.to_owned()]);
    }
    if let Some((u, p)) = a.sec2 {
        v.extend([
            "--sec2_username".to_owned(),
            u.to_owned(),
            "--sec2_pwd".to_owned(),
            p.to_owned(),
        ]);
    }
    v.extend([
        "--ssid".to_owned(),
        "myssid".to_owned(),
        "--passphrase".to_owned(),
        a.passphrase.to_owned(),
    ]);
    v
}

/// Quote an argument for a POSIX shell when needed.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_payloads_follow_the_example() {
        assert_eq!(
            service_name(&[0x24, 0x0a, 0xc4, 0xa1, 0xb2, 0xc3]),
            "PROV_A1B2C3"
        );
        let sec1 = QrInfo {
            name: "PROV_A1B2C3",
            transport: "softap",
            pop: Some("abcd1234"),
            username: None,
        };
        assert_eq!(
            qr_payload(&sec1),
            r#"{"ver":"v1","name":"PROV_A1B2C3","pop":"abcd1234","transport":"softap"}"#
        );
        let sec2 = QrInfo {
            username: Some("wifiprov"),
            ..sec1.clone()
        };
        assert_eq!(
            qr_payload(&sec2),
            r#"{"ver":"v1","name":"PROV_A1B2C3","username":"wifiprov","pop":"abcd1234","transport":"softap"}"#
        );
        let none = QrInfo { pop: None, ..sec1 };
        assert_eq!(
            qr_payload(&none),
            r#"{"ver":"v1","name":"PROV_A1B2C3","transport":"softap"}"#
        );
        assert!(qr_text(&qr_payload(&none)).is_some_and(|t| t.lines().count() > 10));
        assert!(qr_link("{\"a\":1}").ends_with("data=%7B%22a%22%3A1%7D"));
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("127.0.0.1:80"), "127.0.0.1:80");
    }
}
