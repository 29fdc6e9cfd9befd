//! Helpers around `Variant<Box<dyn RefArg>>` property maps and Bluetooth identifiers.

use dbus::arg::{ArgType, PropMap, RefArg, Variant};

/// A boxed variant value.
pub(crate) type Val = Variant<Box<dyn RefArg>>;

/// Wraps a value into a variant.
pub(crate) fn v<T: RefArg + 'static>(t: T) -> Val {
    Variant(Box::new(t))
}

/// Deep copy of a property map.
pub(crate) fn clone_props(p: &PropMap) -> PropMap {
    p.iter()
        .map(|(k, x)| (k.clone(), Variant(x.0.box_clone())))
        .collect()
}

/// Bytes out of an `ay` (possibly wrapped in variants).
pub(crate) fn bytes_of(a: &dyn RefArg) -> Option<Vec<u8>> {
    match a.arg_type() {
        ArgType::Variant => bytes_of(a.as_iter()?.next()?),
        ArgType::Array => a
            .as_iter()?
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

/// Strings out of an `as`.
pub(crate) fn strings_of(a: &dyn RefArg) -> Vec<String> {
    a.as_iter()
        .map(|it| it.filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A `q` out of a property map.
pub(crate) fn get_u16(p: &PropMap, key: &str) -> Option<u16> {
    p.get(key)
        .and_then(|x| x.0.as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// An `s` out of a property map.
pub(crate) fn get_str(p: &PropMap, key: &str) -> Option<String> {
    p.get(key).and_then(|x| x.0.as_str().map(str::to_owned))
}

/// A `b` out of a property map.
pub(crate) fn get_bool(p: &PropMap, key: &str) -> Option<bool> {
    p.get(key)
        .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
}

const BASE_SUFFIX: &str = "-0000-1000-8000-00805f9b34fb";

/// The canonical lowercase 128-bit form of a UUID given as 16, 32 or 128 bits.
pub(crate) fn normalize_uuid(u: &str) -> String {
    let l = u.trim().to_ascii_lowercase();
    match l.len() {
        4 => format!("0000{l}{BASE_SUFFIX}"),
        8 => format!("{l}{BASE_SUFFIX}"),
        _ => l,
    }
}

/// Bytes the UUID takes in advertising data (2, 4 or 16).
pub(crate) fn uuid_ad_len(u: &str) -> usize {
    let l = normalize_uuid(u);
    if l.len() == 36 && l.ends_with(BASE_SUFFIX) {
        if l.starts_with("0000") {
            2
        } else {
            4
        }
    } else {
        16
    }
}

/// A Bluetooth device address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Addr(pub(crate) [u8; 6]);

impl Addr {
    /// `AA:BB:CC:DD:EE:FF`.
    pub(crate) fn colon(self) -> String {
        self.join(":")
    }

    /// `AA_BB_CC_DD_EE_FF`, as in BlueZ object paths.
    pub(crate) fn underscore(self) -> String {
        self.join("_")
    }

    /// `AA-BB-CC-DD-EE-FF`, BlueZ's default alias.
    pub(crate) fn dash(self) -> String {
        self.join("-")
    }

    fn join(self, sep: &str) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(sep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_sizes() {
        assert_eq!(uuid_ad_len("180f"), 2);
        assert_eq!(uuid_ad_len("0000180F-0000-1000-8000-00805F9B34FB"), 2);
        assert_eq!(uuid_ad_len("1234180f-0000-1000-8000-00805f9b34fb"), 4);
        assert_eq!(uuid_ad_len("021a9004-0382-4aea-bff4-6b3f1c5adfb4"), 16);
        assert_eq!(
            normalize_uuid("2901"),
            "00002901-0000-1000-8000-00805f9b34fb"
        );
    }

    #[test]
    fn bytes_roundtrip() {
        let x = v(vec![1u8, 2, 3]);
        assert_eq!(bytes_of(&x), Some(vec![1, 2, 3]));
        assert_eq!(
            Addr([0xA, 0xB1, 0, 0, 0, 1]).underscore(),
            "0A_B1_00_00_00_01"
        );
    }
}
