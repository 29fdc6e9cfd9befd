//! Serde model of the `esp-idf-prov-golden-vector/1` file format (see `esp-idf/README.md`), and its
//! checked form [`Scenario`].
//!
//! Only the fields the harness needs are modelled; every other field (`oracle`, `observations`,
//! `request_decoded`, `response_text`, ...) is accepted and ignored, so files carrying extra
//! information still load. [`Scenario::parse`] turns the raw JSON into a list of [`Step`]s whose hex
//! fields are already decoded, so a malformed file is rejected before anything is replayed.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::VectorError;

/// The value of the `schema` field this crate understands.
pub const SCHEMA_ID: &str = "esp-idf-prov-golden-vector/1";

/// One vector file, as written on disk.
#[derive(Debug, Clone, Deserialize)]
pub struct VectorFile {
    /// Schema identifier; must be [`SCHEMA_ID`].
    pub schema: String,
    /// Scenario name (the file stem).
    pub scenario: String,
    /// One-line title.
    #[serde(default)]
    pub title: String,
    /// Longer description of what is exercised.
    #[serde(default)]
    pub description: String,
    /// Device configuration and the fake Wi-Fi world the oracle ran with.
    pub inputs: Inputs,
    /// Device values recorded during the run, by label, each list in the order the values occurred.
    #[serde(default)]
    pub derived_device_values: BTreeMap<String, Vec<String>>,
    /// The recorded steps, in order.
    pub transcript: Vec<RawStep>,
}

/// The `inputs` object: how the oracle's device was configured.
#[derive(Debug, Clone, Deserialize)]
pub struct Inputs {
    /// Security scheme: 0, 1 or 2.
    pub security: u8,
    /// Security 1 proof of possession (`null` or absent: no PoP).
    #[serde(default)]
    pub pop: Option<String>,
    /// Whether the manager stops the service after a successful provisioning.
    pub auto_stop: bool,
    /// `wifi_prov_mgr` connection attempts (absent: 0, i.e. the IDF default).
    #[serde(default)]
    pub wifi_conn_attempts: Option<u32>,
    /// Security 2 SRP salt (hex), required when `security` is 2.
    #[serde(default)]
    pub sec2_salt_hex: Option<String>,
    /// Security 2 SRP verifier (hex), required when `security` is 2.
    #[serde(default)]
    pub sec2_verifier_hex: Option<String>,
    /// Security 2 username the device was provisioned with.
    #[serde(default)]
    pub sec2_username: Option<String>,
    /// Security 2 password the verifier was made from.
    #[serde(default)]
    pub sec2_password: Option<String>,
    /// The PoP the recorded client used, when it differs from the device's (`pop`).
    #[serde(default)]
    pub client_pop: Option<String>,
    /// The password the recorded client used, when it differs from the device's (`sec2_password`).
    #[serde(default)]
    pub client_password: Option<String>,
    /// The recorded client's secrets (X25519 key, SRP `a`), in the order it drew them.
    #[serde(default)]
    pub client_secrets: Vec<ClientSecret>,
    /// The fake Wi-Fi driver's world.
    pub fake_wifi: FakeWifi,
}

/// The `inputs.fake_wifi` object.
#[derive(Debug, Clone, Deserialize)]
pub struct FakeWifi {
    /// IPv4 address handed out on a successful connection (dotted quad).
    pub ip_on_connect: String,
    /// Access points seen by scans and accepted by connects.
    pub aps: Vec<RawAp>,
}

/// One access point of `inputs.fake_wifi.aps`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawAp {
    /// SSID (text; used as its UTF-8 bytes).
    pub ssid: String,
    /// BSSID as 12 hex digits.
    pub bssid: String,
    /// Primary channel.
    pub channel: u8,
    /// Signal strength in dBm.
    pub rssi: i8,
    /// Authentication mode by ESP-IDF name (`Open`, `WPA2_PSK`, ...).
    pub auth: String,
    /// Passphrase the AP accepts (ignored for open APs).
    #[serde(default)]
    pub password: String,
}

/// One element of `transcript`, before checking: either a request or a directive.
#[derive(Debug, Clone, Deserialize)]
pub struct RawStep {
    /// 1-based position.
    pub step: u32,
    /// Endpoint name (request steps).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Transport session id (request steps).
    #[serde(default)]
    pub session_id: Option<u32>,
    /// Request bytes as handed to `protocomm_req_handle()` (request steps).
    #[serde(default)]
    pub request_hex: Option<String>,
    /// Exact response bytes, or `null` when the request failed.
    #[serde(default)]
    pub response_hex: Option<String>,
    /// `null`, or the error `protocomm_req_handle()` returned.
    #[serde(default)]
    pub error: Option<ExpectedError>,
    /// Plaintext of an encrypted request (absent for plaintext endpoints / security 0).
    #[serde(default)]
    pub request_plaintext_hex: Option<String>,
    /// Decrypted response (absent for plaintext endpoints / security 0).
    #[serde(default)]
    pub response_plaintext_hex: Option<String>,
    /// Present (with an explanation) when the response bytes depend on uninitialised memory.
    #[serde(default)]
    pub nondeterministic: Option<serde_json::Value>,
    /// Directive name (directive steps); only `advance` exists.
    #[serde(default)]
    pub directive: Option<String>,
    /// Directive argument (for `advance`: milliseconds, as a string or a number).
    #[serde(default)]
    pub argument: Option<serde_json::Value>,
    /// Human note about the step.
    #[serde(default)]
    pub note: Option<String>,
    /// Device-side diagnostics captured during the step (tab-separated lines).
    #[serde(default)]
    pub device_trace: Vec<String>,
}

/// One recorded client secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientSecret {
    /// What it is (e.g. `client_srp_a (bit 255 forced)`).
    #[serde(default)]
    pub what: String,
    /// The bytes, hex.
    pub hex: String,
}

/// The `error` object of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpectedError {
    /// `esp_err_t` value (or -2: provisioning service stopped).
    pub code: i32,
    /// Symbolic name as recorded.
    #[serde(default)]
    pub name: String,
}

/// A checked vector file: raw data plus decoded steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where the file came from (path or label), for messages.
    pub origin: String,
    /// The raw file.
    pub file: VectorFile,
    /// The transcript with hex decoded.
    pub steps: Vec<Step>,
}

/// A checked transcript step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A request to an endpoint and the recorded outcome.
    Request(RequestStep),
    /// Let virtual time pass.
    Advance(AdvanceStep),
}

impl Step {
    /// The step's 1-based number.
    pub fn number(&self) -> u32 {
        match self {
            Self::Request(r) => r.step,
            Self::Advance(a) => a.step,
        }
    }
}

/// A request step with decoded bytes.
#[derive(Debug, Clone)]
pub struct RequestStep {
    /// 1-based position.
    pub step: u32,
    /// Endpoint name.
    pub endpoint: String,
    /// Transport session id.
    pub session_id: u32,
    /// Request bytes.
    pub request: Vec<u8>,
    /// What the oracle device answered.
    pub expected: Expected,
    /// Plaintext of the request, when it was encrypted.
    pub request_plaintext: Option<Vec<u8>>,
    /// Decrypted expected response, when recorded.
    pub response_plaintext: Option<Vec<u8>>,
    /// The response depends on uninitialised memory: compare structure, not bytes.
    pub nondeterministic: bool,
    /// Human note.
    pub note: String,
}

/// An `advance` directive.
#[derive(Debug, Clone)]
pub struct AdvanceStep {
    /// 1-based position.
    pub step: u32,
    /// Virtual milliseconds to let pass.
    pub millis: u64,
    /// Human note.
    pub note: String,
}

/// The recorded outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The device answered these bytes.
    Response(Vec<u8>),
    /// The device returned an error and sent nothing.
    Error(ExpectedError),
}

/// Decodes a hex field, naming the step and field on failure.
pub(crate) fn decode_hex(text: &str, what: &str) -> Result<Vec<u8>, String> {
    hex::decode(text).map_err(|e| format!("{what}: invalid hex: {e}"))
}

impl Scenario {
    /// Parses and checks the JSON text of one vector file. `origin` names the text in messages.
    pub fn parse(origin: &str, text: &str) -> Result<Self, VectorError> {
        let file: VectorFile = serde_json::from_str(text).map_err(|source| VectorError::Json {
            origin: origin.to_owned(),
            source,
        })?;
        let invalid = |detail: String| VectorError::Invalid {
            origin: origin.to_owned(),
            detail,
        };
        if file.schema != SCHEMA_ID {
            return Err(invalid(format!(
                "schema is {:?}, this harness understands {SCHEMA_ID:?}",
                file.schema
            )));
        }
        let steps = file
            .transcript
            .iter()
            .map(check_step)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        Ok(Self {
            origin: origin.to_owned(),
            file,
            steps,
        })
    }

    /// Scenario name (the file's `scenario` field).
    pub fn name(&self) -> &str {
        &self.file.scenario
    }
}

fn check_step(raw: &RawStep) -> Result<Step, String> {
    let n = raw.step;
    let note = raw.note.clone().unwrap_or_default();
    if let Some(directive) = &raw.directive {
        if directive != "advance" {
            return Err(format!("step {n}: unknown directive {directive:?}"));
        }
        let millis = match &raw.argument {
            Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(serde_json::Value::Number(num)) => num.as_u64(),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "step {n}: advance needs a non-negative integer argument (milliseconds), got {:?}",
                raw.argument
            )
        })?;
        return Ok(Step::Advance(AdvanceStep {
            step: n,
            millis,
            note,
        }));
    }
    let endpoint = raw
        .endpoint
        .clone()
        .ok_or_else(|| format!("step {n}: neither `directive` nor `endpoint`"))?;
    let session_id = raw
        .session_id
        .ok_or_else(|| format!("step {n}: missing `session_id`"))?;
    let request = decode_hex(
        raw.request_hex
            .as_deref()
            .ok_or_else(|| format!("step {n}: missing `request_hex`"))?,
        &format!("step {n}: request_hex"),
    )?;
    let expected = match (&raw.error, &raw.response_hex) {
        (Some(err), None) => Expected::Error(err.clone()),
        (Some(_), Some(_)) => {
            return Err(format!(
                "step {n}: has both `error` and a non-null `response_hex`"
            ))
        }
        (None, Some(h)) => Expected::Response(decode_hex(h, &format!("step {n}: response_hex"))?),
        (None, None) => {
            return Err(format!(
                "step {n}: `error` and `response_hex` are both null"
            ))
        }
    };
    let request_plaintext = raw
        .request_plaintext_hex
        .as_deref()
        .map(|h| decode_hex(h, &format!("step {n}: request_plaintext_hex")))
        .transpose()?;
    let response_plaintext = raw
        .response_plaintext_hex
        .as_deref()
        .map(|h| decode_hex(h, &format!("step {n}: response_plaintext_hex")))
        .transpose()?;
    let nondeterministic = !matches!(
        raw.nondeterministic,
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false))
    );
    Ok(Step::Request(RequestStep {
        step: n,
        endpoint,
        session_id,
        request,
        expected,
        request_plaintext,
        response_plaintext,
        nondeterministic,
        note,
    }))
}
