//! `prov-ctrl`: CtrlReset and CtrlReprov in each manager state (spec §5.3, §6.2, §8.1, §8.2).
//! Expectations come from `wifi_auth_error_then_reset.json` and `ctrl_reprov_with_auto_stop.json`.
//! CtrlReprov cases assume auto-stop is enabled, the default of ESP-IDF and of the simulator.

use crate::case::Group::Ctrl as G;
use proto::protocomm::Status;
use proto::wifi_prov::WifiStationState;

use crate::case::{session_possible, short_hex, Case, Ctx, Leaves, Step, Stop};
use crate::ensure;
use crate::steps::config::{
    apply_ok, esp_family, expect_connected, expect_connecting, fail_auth, set_ok, show, status_raw,
};
use prov_client::messages;
use prov_client::Profile;

/// The ctrl cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("CTRL-RESET-AFTER-FAILURE", "CtrlReset after AuthError answers Success; GetStatus keeps the failure until the next ApplyConfig, which connects", session_possible, reset_after_failure).leaves(Leaves::Applied),
        G.case("CTRL-RESET-INITIAL", "CtrlReset before any ApplyConfig: InternalError (ESP-IDF 5.5) / Success (network_prov ≥ 1.2.1, Zephyr)", session_possible, reset_initial),
        G.case("CTRL-RESET-WHILE-CONNECTING", "CtrlReset while connecting: InternalError and the connection goes on (ESP-IDF) / Success (Zephyr)", session_possible, reset_while_connecting).leaves(Leaves::Applied),
        G.case("CTRL-RESET-AFTER-SUCCESS", "CtrlReset after Connected: InternalError (ESP-IDF) / Success (Zephyr)", session_possible, reset_after_success).leaves(Leaves::Applied),
        G.case("CTRL-REPROV-AUTO-STOP", "CtrlReprov with auto-stop enabled: InternalError (ESP-IDF) / Success (Zephyr); nothing changes", session_possible, reprov_auto_stop),
        G.case("CTRL-REPROV-AFTER-SUCCESS", "CtrlReprov after Connected with auto-stop enabled: InternalError (ESP-IDF) / Success (Zephyr)", session_possible, reprov_after_success).leaves(Leaves::Applied),
        G.case("CTRL-UNKNOWN-MSG", "prov-ctrl with msg 0 (reserved), a response type or an unknown number gets no response; the session goes on", session_possible, unknown_msg),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Reset,
    Reprov,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Self::Reset => "CtrlReset",
            Self::Reprov => "CtrlReprov",
        }
    }

    /// ESP-IDF answer bytes (spec §5.3).
    fn bytes(self, success: bool) -> Vec<u8> {
        let (msg, member) = match self {
            Self::Reset => (0x02, 0x62),
            Self::Reprov => (0x04, 0x72),
        };
        if success {
            vec![0x08, msg, member, 0x00]
        } else {
            vec![0x08, msg, 0x10, 0x05, member, 0x00]
        }
    }
}

/// Sends `cmd` and requires status Success (`success`) or InternalError, byte-exact on ESP-IDF.
fn expect_ctrl(
    ctx: &mut Ctx<'_>,
    cmd: Cmd,
    success: bool,
    situation: &str,
    cite: &str,
) -> Step<()> {
    let (req, note) = match cmd {
        Cmd::Reset => (messages::ctrl_reset(), format!("CtrlReset {situation}")),
        Cmd::Reprov => (messages::ctrl_reprov(), format!("CtrlReprov {situation}")),
    };
    let p = ctx.call("prov-ctrl", &req, &note)?;
    let status = match cmd {
        Cmd::Reset => messages::decode_resp_ctrl_reset(&p).map(|r| r.status),
        Cmd::Reprov => messages::decode_resp_ctrl_reprov(&p).map(|r| r.status),
    }
    .map_err(|e| Stop::Fail(format!("{note}: {e} (spec §5.3)")))?;
    let want = if success {
        Status::Success
    } else {
        Status::InternalError
    };
    ensure!(
        status == want as i32,
        "{} {situation} answered status {}, expected {} ({}: {cite})",
        cmd.name(),
        messages::describe_status(status),
        want.as_str_name(),
        ctx.env.profile
    );
    if esp_family(ctx.env.profile) {
        let want_raw = cmd.bytes(success);
        ensure!(
            p == want_raw,
            "{} {situation} answered {}, expected {} (spec §5.3: the empty response member is always present)",
            cmd.name(),
            hex::encode(&p),
            hex::encode(&want_raw)
        );
    }
    Ok(())
}

/// GetStatus must still be the initial answer (nothing was applied).
fn still_initial(ctx: &mut Ctx<'_>, after: &str) -> Step<()> {
    let (raw, s) = status_raw(ctx, &format!("GetStatus after {after}"))?;
    match ctx.env.profile {
        Profile::Zephyr => ensure!(
            s.sta_state == WifiStationState::Disconnected as i32 && s.state.is_none(),
            "GetStatus after {after}: {}, expected Disconnected (Zephyr, spec §8.1)",
            show(&s)
        ),
        _ => ensure!(
            raw == [0x08, 0x01, 0x5a, 0x02, 0x10, 0x01],
            "GetStatus after {after}: {} ({}), expected the initial Connecting 08015a021001 (spec §5.1, §5.3)",
            show(&s),
            hex::encode(&raw)
        ),
    }
    Ok(())
}

fn reset_after_failure(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    if net.password.is_empty() {
        return Err(Stop::Skip(format!(
            "the first network {:?} is open: no AuthError can be provoked",
            net.ssid
        )));
    }
    const VEC: &str = "vectors/esp-idf/wifi_auth_error_then_reset.json";
    fail_auth(ctx, &net, &format!("{VEC} step 7"))?;
    expect_ctrl(
        ctx,
        Cmd::Reset,
        true,
        "after the failure",
        &format!("spec §5.3; {VEC} step 10"),
    )?;
    // What GetStatus says between the reset and the next ApplyConfig.
    let (raw, s) = status_raw(ctx, "GetStatus right after CtrlReset")?;
    match ctx.env.profile {
        Profile::Zephyr => ensure!(
            s.sta_state == WifiStationState::Disconnected as i32,
            "GetStatus right after CtrlReset: {}, expected Disconnected (Zephyr resets the state, spec §8.1)",
            show(&s)
        ),
        _ => ensure!(
            raw == [0x08, 0x01, 0x5a, 0x04, 0x10, 0x03, 0x50, 0x00],
            "GetStatus right after CtrlReset: {} ({}), expected the old failure 08015a0410035000 = ConnectionFailed/AuthError: CtrlReset does not reset the station state (spec §5.3; {VEC} step 11)",
            show(&s),
            hex::encode(&raw)
        ),
    }
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    expect_connecting(ctx, "the ApplyConfig that follows CtrlReset")?;
    expect_connected(ctx, net.ssid.as_bytes())?;
    Ok(())
}

fn reset_initial(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (ok, cite) = match ctx.env.profile {
        Profile::EspIdf55 => (
            false,
            "only allowed after a failure, spec §5.3; vectors/esp-idf/wifi_auth_error_then_reset.json step 3",
        ),
        Profile::NetworkProv12 => (true, "≥ 1.2.1 also allows it in STARTED, spec §5.3, §8.2"),
        Profile::Zephyr => (true, "always Success, spec §8.1"),
    };
    expect_ctrl(ctx, Cmd::Reset, ok, "before any ApplyConfig", cite)?;
    still_initial(ctx, "CtrlReset")
}

fn reset_while_connecting(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    let zephyr = ctx.env.profile == Profile::Zephyr;
    let cite = if zephyr {
        "always Success, spec §8.1"
    } else {
        "allowed only in FAIL (and STARTED on network_prov ≥ 1.2.1), spec §5.3"
    };
    expect_ctrl(ctx, Cmd::Reset, zephyr, "while connecting", cite)?;
    if !zephyr {
        // The refused reset must leave the connection under way alone.
        expect_connected(ctx, net.ssid.as_bytes())?;
    }
    Ok(())
}

fn connect(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    expect_connected(ctx, net.ssid.as_bytes())?;
    Ok(())
}

fn reset_after_success(ctx: &mut Ctx<'_>) -> Step<()> {
    connect(ctx)?;
    // Auto-stop tears the service down 1 s after the Connected answer (spec §6.2): ask at once.
    let zephyr = ctx.env.profile == Profile::Zephyr;
    let cite = if zephyr {
        "always Success, spec §8.1"
    } else {
        "allowed only in FAIL (and STARTED on network_prov ≥ 1.2.1), spec §5.3"
    };
    expect_ctrl(ctx, Cmd::Reset, zephyr, "after success", cite)
}

fn reprov_auto_stop(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let zephyr = ctx.env.profile == Profile::Zephyr;
    let cite = if zephyr {
        "always Success, spec §8.1"
    } else {
        "needs auto-stop disabled, spec §5.3, §6.2; vectors/esp-idf/ctrl_reprov_with_auto_stop.json step 2"
    };
    expect_ctrl(ctx, Cmd::Reprov, zephyr, "with auto-stop enabled", cite)?;
    still_initial(ctx, "CtrlReprov")
}

fn reprov_after_success(ctx: &mut Ctx<'_>) -> Step<()> {
    connect(ctx)?;
    let zephyr = ctx.env.profile == Profile::Zephyr;
    let cite = if zephyr {
        "always Success, spec §8.1"
    } else {
        "needs auto-stop disabled whatever the state, spec §5.3, §6.2; vectors/esp-idf/ctrl_reprov_with_auto_stop.json step 2"
    };
    expect_ctrl(
        ctx,
        Cmd::Reprov,
        zephyr,
        "after success (auto-stop enabled)",
        cite,
    )
}

fn unknown_msg(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    // `msg` is written out even when 0, so the plaintext is never empty (an empty one fails earlier).
    let mut msgs: Vec<(u8, &str)> = vec![
        (0, "TypeCtrlReserved"),
        (2, "TypeRespCtrlReset, a response type"),
        (4, "TypeRespCtrlReprov, a response type"),
        (9, "an unassigned number"),
        (100, "an unassigned number"),
    ];
    if ctx.env.profile == Profile::EspIdf55 {
        // network_provisioning gives 5 to CtrlThreadReset (spec §2.10).
        msgs.push((
            5,
            "unassigned in wifi_provisioning (vectors/esp-idf/bad_inputs_sec1.json step 29)",
        ));
    }
    for (msg, what) in msgs {
        let note = format!("WiFiCtrlPayload msg {msg} ({what})");
        if let Some(p) = ctx.call_maybe("prov-ctrl", &[0x08, msg], &note)? {
            return Err(Stop::Fail(format!(
                "{note}: answered {}, expected no response (spec §5 dispatch rule 2, §5.3: only msg 1 and 3 are accepted)",
                short_hex(&p)
            )));
        }
    }
    let (_, s) = status_raw(ctx, "GetStatus after the rejected ctrl messages")?;
    ensure!(
        s.status == Status::Success as i32,
        "GetStatus after the rejected ctrl messages: {}",
        show(&s)
    );
    Ok(())
}
