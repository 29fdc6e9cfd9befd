//! Deliberate misbehaviours: known firmware defects the device can be told to reproduce, so that a
//! conformance suite can prove it notices each one (a suite that passes a broken device proves nothing).
//!
//! Never on by default: [`DeviceConfig::misbehave`](crate::DeviceConfig::misbehave) starts empty, and an
//! empty set leaves every byte the device sends unchanged (the golden vectors check that). Each defect is
//! wired into one small hook next to the code it breaks; the descriptions name the rule it violates.

use std::collections::BTreeSet;
use std::fmt;

/// One deliberate deviation from the spec. Names are kebab-case ([`Misbehaviour::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Misbehaviour {
    /// Security 1 Command1 with a wrong verifier is accepted.
    AcceptWrongPop,
    /// Security 1: the AES-CTR keystream restarts from the session IV for every message.
    CtrRestartPerMessage,
    /// Security 2 patch 1: the nonce counter never advances.
    GcmNonceReuse,
    /// ScanResult past the last result answers Success, repeating the last entry.
    ScanOverrun,
    /// GetStatus reports AuthError and NetworkNotFound swapped.
    WrongFailureReason,
    /// HTTP: the session cookie is ignored; the session follows the socket only.
    IgnoreSessionCookie,
    /// Security 2 Command0 accepts a client public key shorter than 384 bytes.
    AcceptShortSrpA,
    /// Data endpoints answer in plaintext before the handshake completed.
    AnswerBeforeHandshake,
    /// Security 2 accepts `A mod N == 0`.
    AcceptZeroSrpA,
    /// `SessionData.sec_ver` is not checked.
    IgnoreSecVer,
    /// The `proto-ver` JSON has no `sec_patch_ver`.
    MissingSecPatchVer,
    /// SetConfig accepts an SSID over 32 bytes or a passphrase over 63 bytes.
    NoSsidLengthCheck,
    /// A replayed Command1 on an established session is answered again.
    Cmd1ReplayAccepted,
    /// SetConfig/ScanStart/ScanResult without a payload crash (reboot) the device.
    CrashOnMissingPayload,
    /// HTTP: an empty POST body is handed to the endpoint.
    EmptyBodyProcessed,
    /// The failure GetStatus reports survives CtrlReset and the next ApplyConfig.
    StaleStatusAfterReset,
    /// BLE: a Read Blob (read with an offset) is answered from the start of the value.
    BleIgnoreReadOffset,
}

/// A set of misbehaviours (ordered, so listings are stable).
pub type Misbehaviours = BTreeSet<Misbehaviour>;

impl Misbehaviour {
    /// Every misbehaviour, in declaration order.
    pub const ALL: &'static [Self] = &[
        Self::AcceptWrongPop,
        Self::CtrRestartPerMessage,
        Self::GcmNonceReuse,
        Self::ScanOverrun,
        Self::WrongFailureReason,
        Self::IgnoreSessionCookie,
        Self::AcceptShortSrpA,
        Self::AnswerBeforeHandshake,
        Self::AcceptZeroSrpA,
        Self::IgnoreSecVer,
        Self::MissingSecPatchVer,
        Self::NoSsidLengthCheck,
        Self::Cmd1ReplayAccepted,
        Self::CrashOnMissingPayload,
        Self::EmptyBodyProcessed,
        Self::StaleStatusAfterReset,
        Self::BleIgnoreReadOffset,
    ];

    /// The transport a misbehaviour lives in (`http`, `ble`), if it is not in the core.
    pub fn transport(self) -> Option<&'static str> {
        match self {
            Self::IgnoreSessionCookie | Self::EmptyBodyProcessed => Some("http"),
            Self::BleIgnoreReadOffset => Some("ble"),
            _ => None,
        }
    }

    /// The kebab-case name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::AcceptWrongPop => "accept-wrong-pop",
            Self::CtrRestartPerMessage => "ctr-restart-per-message",
            Self::GcmNonceReuse => "gcm-nonce-reuse",
            Self::ScanOverrun => "scan-overrun",
            Self::WrongFailureReason => "wrong-failure-reason",
            Self::IgnoreSessionCookie => "ignore-session-cookie",
            Self::AcceptShortSrpA => "accept-short-srp-a",
            Self::AnswerBeforeHandshake => "answer-before-handshake",
            Self::AcceptZeroSrpA => "accept-zero-srp-a",
            Self::IgnoreSecVer => "ignore-sec-ver",
            Self::MissingSecPatchVer => "missing-sec-patch-ver",
            Self::NoSsidLengthCheck => "no-ssid-length-check",
            Self::Cmd1ReplayAccepted => "cmd1-replay-accepted",
            Self::CrashOnMissingPayload => "crash-on-missing-payload",
            Self::EmptyBodyProcessed => "empty-body-processed",
            Self::StaleStatusAfterReset => "stale-status-after-reset",
            Self::BleIgnoreReadOffset => "ble-ignore-read-offset",
        }
    }

    /// The misbehaviour called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// One line: what the device does wrong, and the real defect or spec rule it models.
    pub fn description(self) -> &'static str {
        match self {
            Self::AcceptWrongPop => {
                "Sec1 Command1 with a wrong client_verify_data gets Response1 and a session \
                 (PoP check skipped; spec §3.3, §7.1 'Sec1 wrong PoP')"
            }
            Self::CtrRestartPerMessage => {
                "Sec1 data phase restarts AES-CTR from the session IV for every message \
                 (keystream reuse; spec §3.3 says one stream for the whole session)"
            }
            Self::GcmNonceReuse => {
                "Sec2 patch 1 never advances the nonce counter: every message uses the same nonce \
                 (the 2025 nonce-reuse bug; spec §3.4.4, §7.3)"
            }
            Self::ScanOverrun => {
                "ScanResult beyond the last result answers Success, repeating the last entry \
                 (unchecked index; spec §5.2 wants a partial list + InternalError)"
            }
            Self::WrongFailureReason => {
                "GetStatus reports AuthError as NetworkNotFound and vice versa \
                 (swapped reason mapping; spec §5.1)"
            }
            Self::IgnoreSessionCookie => {
                "HTTP ignores 'Cookie: session=': the session follows the socket only, so a new \
                 connection gets a new session (spec §4.1)"
            }
            Self::AcceptShortSrpA => {
                "Sec2 Command0 accepts a client_pubkey A shorter than 384 bytes \
                 (missing length check; spec §3.4.2, §7.1)"
            }
            Self::AnswerBeforeHandshake => {
                "Sec1/Sec2 data endpoints answer in plaintext before the handshake completed \
                 (spec §3.1, §7.1 'Data endpoint before handshake completed')"
            }
            Self::AcceptZeroSrpA => {
                "Sec2 accepts A mod N == 0, so S = 0 and the proof needs no password \
                 (pre-2026 firmware SRP bypass; spec §7.1, §7.3)"
            }
            Self::IgnoreSecVer => {
                "prov-session does not check SessionData.sec_ver; the payload oneof is still used \
                 (spec §3.5, §7.1)"
            }
            Self::MissingSecPatchVer => {
                "proto-ver JSON omits sec_patch_ver, so clients of a Sec2 patch-1 device fall back to \
                 the legacy IV (spec §1.3, §8.3)"
            }
            Self::NoSsidLengthCheck => {
                "SetConfig with SSID > 32 or passphrase > 63 bytes answers Success and stores it \
                 (spec §5.1 wants status InvalidArgument)"
            }
            Self::Cmd1ReplayAccepted => {
                "a second Command1 on an established Sec1/Sec2 session is answered with Response1 \
                 again (spec §3.5 wants a transport error)"
            }
            Self::CrashOnMissingPayload => {
                "SetConfig/ScanStart/ScanResult without a payload crash and reboot the device, \
                 losing all sessions (NULL dereference before the 2026-03 fix; spec §7.1, §7.3)"
            }
            Self::EmptyBodyProcessed => {
                "HTTP hands an empty POST body to the endpoint instead of closing the connection \
                 (Zephyr behaviour; spec §4.1, §8.1)"
            }
            Self::StaleStatusAfterReset => {
                "after CtrlReset the old failure survives the next ApplyConfig: GetStatus still \
                 reports it while connecting (spec §5.3: only until the next ApplyConfig)"
            }
            Self::BleIgnoreReadOffset => {
                "BLE reads ignore the offset: a long response read by Read Blob repeats its first \
                 MTU-1 bytes (BLE-TESTBED pitfall 7; spec §4.2.3 long reads)"
            }
        }
    }
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let names: BTreeSet<_> = Misbehaviour::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Misbehaviour::ALL.len());
        for &m in Misbehaviour::ALL {
            assert_eq!(Misbehaviour::from_name(m.name()), Some(m));
            assert!(!m.description().contains('\n'));
        }
        assert_eq!(Misbehaviour::from_name("no-such-thing"), None);
    }
}
