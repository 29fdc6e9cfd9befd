//! Both sides' message decoding.
//!
//! - [`protobuf`]: every envelope the device decodes (`SessionData`, the Wi-Fi and network payloads), with a
//!   round trip: what decodes re-encodes to bytes that decode to the same message.
//! - [`client`]: the suite's side against a broken device: the response decoders of `prov-client`, and a
//!   whole client handshake whose device answers are the input. A broken device must give an error, never
//!   a crash of the suite.

use prost::Message;
use proto::network_prov::{NetworkConfigPayload, NetworkCtrlPayload, NetworkScanPayload};
use proto::protocomm::SessionData;
use proto::wifi_prov::{WiFiConfigPayload, WiFiCtrlPayload, WiFiScanPayload};
use prov_client::messages as m;
use prov_client::{Handshake, Sec1Client, Sec2Client};

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(msg) = M::decode(bytes) {
        let again = M::decode(msg.encode_to_vec().as_slice())
            .unwrap_or_else(|e| panic!("re-encoded {msg:?} does not decode: {e}"));
        assert_eq!(again, msg, "a decode/encode round trip changed the message");
    }
}

/// The fuzz target for the device's decoders: the first byte picks the message type.
pub fn protobuf(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => round_trip::<SessionData>(bytes),
        1 => round_trip::<WiFiConfigPayload>(bytes),
        2 => round_trip::<WiFiScanPayload>(bytes),
        3 => round_trip::<WiFiCtrlPayload>(bytes),
        4 => round_trip::<NetworkConfigPayload>(bytes),
        5 => round_trip::<NetworkScanPayload>(bytes),
        _ => round_trip::<NetworkCtrlPayload>(bytes),
    }
}

/// The fuzz target for the suite's client: the first byte picks a decoder, or a handshake (Security 1 or
/// 2) whose two device answers are the rest of the input, split at a length byte.
pub fn client(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 16 {
        0 => drop(m::decode_session(bytes)),
        1 => drop(m::decode_sec0_response(bytes)),
        2 => drop(m::decode_config(bytes)),
        3 => drop(m::decode_resp_get_status(bytes)),
        4 => drop(m::decode_resp_set_config(bytes)),
        5 => drop(m::decode_resp_apply_config(bytes)),
        6 => drop(m::decode_scan(bytes)),
        7 => drop(m::decode_resp_scan_start(bytes)),
        8 => drop(m::decode_resp_scan_status(bytes)),
        9 => drop(m::decode_resp_scan_result(bytes)),
        10 => drop(m::decode_ctrl(bytes)),
        11 => drop(m::decode_resp_ctrl_reset(bytes)),
        12 => drop(m::decode_resp_ctrl_reprov(bytes)),
        13 => {
            let status = bytes.first().map_or(0, |b| i32::from(*b));
            drop(m::describe_status(status));
        }
        14 => handshake(
            Handshake::Sec1(Box::new(Sec1Client::new(
                Some(b"abcd1234".to_vec()),
                [7; 32],
            ))),
            bytes,
        ),
        _ => handshake(
            Handshake::Sec2(Box::new(Sec2Client::new("wifiprov", "abcd1234", [9; 32]))),
            bytes,
        ),
    }
}

/// A client handshake against a device that answers `bytes` (first answer's length, first answer,
/// second answer).
fn handshake(mut hs: Handshake, bytes: &[u8]) {
    let (len, rest) = bytes.split_first().map_or((0, &[][..]), |(l, r)| (*l, r));
    let (r0, r1) = rest.split_at(usize::from(len).min(rest.len()));
    let mut answers = [r0, r1].into_iter();
    let result = hs.run(1, |_, _| {
        answers.next().map(<[u8]>::to_vec).ok_or("no answer")
    });
    // Completing needs answers made with the client's own key and the PoP or password: answers that
    // were not (the client must check the device's proof) must never complete.
    assert!(result.is_err(), "a handshake completed on forged answers");
}

/// Seeds: the golden vectors' requests (for `protobuf`, each under every type) and responses (for
/// `client`, each under every decoder).
pub fn seeds(vectors: &[vectors::schema::Scenario]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut proto = Vec::new();
    let mut client = Vec::new();
    for s in vectors {
        for st in &s.steps {
            let vectors::schema::Step::Request(r) = st else {
                continue;
            };
            let plain = r
                .request_plaintext
                .clone()
                .unwrap_or_else(|| r.request.clone());
            for which in 0..7u8 {
                proto.push([&[which][..], &plain].concat());
            }
            let answer = r.response_plaintext.clone().or_else(|| match &r.expected {
                vectors::schema::Expected::Response(b) => Some(b.clone()),
                vectors::schema::Expected::Error(_) => None,
            });
            if let Some(answer) = answer {
                for which in 0..14u8 {
                    client.push([&[which][..], &answer].concat());
                }
            }
        }
    }
    (proto, client)
}
