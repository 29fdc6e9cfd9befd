//! Builders and decoders for the protobuf messages of spec §2, so conformance cases read cleanly.
//!
//! The request builders produce exactly the bytes esp_prov sends (checked against the golden
//! vectors): e.g. [`get_status`] is `52 00` (empty `cmd_get_status` set), while [`apply_config`],
//! [`scan_status`], [`ctrl_reset`] and [`ctrl_reprov`] carry only `msg` (esp_prov never sets their
//! empty sub-message). The `*_payload` and `session_data_*` functions build arbitrary combinations
//! (any `msg`, any oneof member, any `sec_ver`) for the type-confusion cases of spec §7.2.
//!
//! Decoders return the prost types; the `decode_resp_*` variants also check the message type and
//! that the expected oneof member is present.
//!
//! `session` has the `prov-session` builders and decoders, `endpoints` those of `prov-config`,
//! `prov-scan` and `prov-ctrl`; everything is re-exported here.

use proto::protocomm::Status;

use super::ClientError;

mod endpoints;
mod session;

pub use endpoints::{
    apply_config, config_payload, ctrl_payload, ctrl_reprov, ctrl_reset, decode_config,
    decode_ctrl, decode_resp_apply_config, decode_resp_ctrl_reprov, decode_resp_ctrl_reset,
    decode_resp_get_status, decode_resp_scan_result, decode_resp_scan_start,
    decode_resp_scan_status, decode_resp_set_config, decode_scan, get_status, scan_payload,
    scan_result, scan_start, scan_status, set_config,
};
pub(crate) use session::decode_scheme_response;
pub use session::{
    decode_sec0_response, decode_session, sec0_command, session_data, session_data_sec0,
    session_data_sec1, session_data_sec2,
};

/// A decoded scan or ctrl response: those payloads carry `status` in the outer message.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    /// The outer `status` (raw `Status` value; 0 = Success).
    pub status: i32,
    /// The response sub-message.
    pub body: T,
}

impl<T> Reply<T> {
    /// `status == Success`.
    pub fn is_success(&self) -> bool {
        self.status == Status::Success as i32
    }
}

fn check_msg(
    what: &'static str,
    expected: i32,
    got: i32,
    name: fn(i32) -> Option<&'static str>,
) -> Result<(), ClientError> {
    if expected == got {
        return Ok(());
    }
    let show = |v: i32| name(v).map_or_else(|| format!("msg {v}"), str::to_string);
    Err(ClientError::UnexpectedMessage {
        what,
        expected: show(expected),
        got: show(got),
    })
}

fn missing(what: &'static str, expected: &str, got: String) -> ClientError {
    ClientError::UnexpectedMessage {
        what,
        expected: expected.to_string(),
        got,
    }
}

fn status_name(v: i32) -> String {
    Status::try_from(v).map_or_else(|_| format!("status {v}"), |s| s.as_str_name().to_string())
}

/// Human-readable name of a raw `Status` value (e.g. `InternalError`, or `status 42`).
pub fn describe_status(status: i32) -> String {
    status_name(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::h;
    use proto::protocomm::{sec0_payload, sec1_payload, S0SessionCmd};
    use proto::wifi_prov::resp_get_status;

    #[test]
    fn requests_match_esp_prov_bytes() {
        // Plaintexts recorded in vectors/esp-idf/*.json.
        assert_eq!(get_status(), h("5200"));
        assert_eq!(apply_config(), h("0804"));
        assert_eq!(
            set_config(b"OracleNet-Home", b"correct horse battery", b"", 0),
            h("080262270a0e4f7261636c654e65742d486f6d651215636f727265637420686f7273652062617474657279")
        );
        assert_eq!(scan_start(true, false, 5, 120), h("5206080118052078"));
        assert_eq!(scan_start(true, false, 0, 120), h("520408012078"));
        assert_eq!(scan_status(), h("0802"));
        assert_eq!(scan_result(0, 4), h("080472021004"));
        assert_eq!(scan_result(4, 4), h("0804720408041004"));
        assert_eq!(ctrl_reset(), h("0801"));
        assert_eq!(ctrl_reprov(), h("0803"));
        assert_eq!(sec0_command(), h("5203a20100"));
        // Spec §3.3 KAT SetConfig.
        assert_eq!(
            set_config(b"myssid", b"mypassword", b"", 0),
            h("080262140a066d7973736964120a6d7970617373776f7264")
        );
    }

    #[test]
    fn oneof_confusion_builders() {
        // sec_ver 0 carrying a sec1 Command0 (bad_inputs_sec0 step 3).
        let bytes = session_data_sec1(
            0,
            0,
            Some(sec1_payload::Payload::Sc0(proto::protocomm::SessionCmd0 {
                client_pubkey: vec![1; 32],
            })),
        );
        assert_eq!(
            bytes,
            h("5a25a201220a200101010101010101010101010101010101010101010101010101010101010101")
        );
        // sec_ver 1 with a sec0 command (bad_inputs_sec0 step 4).
        assert_eq!(
            session_data_sec0(1, 0, Some(sec0_payload::Payload::Sc(S0SessionCmd {}))),
            h("10015203a20100")
        );
        assert_eq!(session_data(0, None), Vec::<u8>::new());
    }

    #[test]
    fn decoders() {
        let r = decode_sec0_response(&h("52050801aa0100")).unwrap();
        assert_eq!(r.status, 0);
        assert!(decode_sec0_response(&h("12")).is_err());

        let st = decode_resp_get_status(&h("08015a021001")).unwrap();
        assert_eq!(st.sta_state, 1);
        assert_eq!(st.state, None);
        let st = decode_resp_get_status(&h(
            "08015a2a5a280a0a3139322e302e322e323310031a0e4f7261636c654e65742d486f6d652206025e10a1b1c12806",
        ))
        .unwrap();
        match st.state {
            Some(resp_get_status::State::Connected(c)) => {
                assert_eq!(c.ip4_addr, "192.0.2.23");
                assert_eq!(c.ssid, b"OracleNet-Home");
                assert_eq!(c.channel, 6);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode_resp_set_config(&h("08036a00")).unwrap().status, 0);
        assert_eq!(decode_resp_apply_config(&h("08057a00")).unwrap().status, 0);
        assert!(matches!(
            decode_resp_apply_config(&h("08036a00")),
            Err(ClientError::UnexpectedMessage { .. })
        ));
        assert!(matches!(
            decode_resp_get_status(&h("0801")),
            Err(ClientError::UnexpectedMessage { .. })
        ));

        assert!(decode_resp_scan_start(&h("08015a00")).unwrap().is_success());
        let s = decode_resp_scan_status(&h("08036a0408011008")).unwrap();
        assert!(s.body.scan_finished);
        assert_eq!(s.body.result_count, 8);

        // A recorded ScanResult (sec1_full_flow step 6): four entries, RSSI as sign-extended varint.
        let v = crate::test_vectors::parse(crate::test_vectors::SEC1_FULL_FLOW);
        let step = &v["transcript"][5];
        assert_eq!(step["step"], 6);
        let pt = h(step["response_plaintext_hex"].as_str().unwrap());
        let r = decode_resp_scan_result(&pt).unwrap();
        assert!(r.is_success());
        assert_eq!(r.body.entries.len(), 4);
        assert_eq!(r.body.entries[0].ssid, b"OracleNet-Home");
        assert_eq!(r.body.entries[0].rssi, -41);
        assert_eq!(r.body.entries[0].bssid, h("025e10a1b1c1"));

        let reset = decode_resp_ctrl_reset(&h("080210056200")).unwrap();
        assert_eq!(reset.status, Status::InternalError as i32);
        assert!(!reset.is_success());
        assert!(decode_resp_ctrl_reprov(&h("08047200"))
            .unwrap()
            .is_success());
        assert_eq!(describe_status(5), "InternalError");
        assert_eq!(describe_status(42), "status 42");
        assert!(matches!(
            decode_config(&h("0a05")),
            Err(ClientError::Decode { .. })
        ));
    }
}
