//! The Security 0 session case: the session command and its fixed answer (spec §3.2).

use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::session::SESSION;
use prov_client::messages;
use prov_client::Profile;

pub(super) fn sec0_session(ctx: &mut Ctx<'_>) -> Step<()> {
    let r = ctx.expect_data(
        SESSION,
        &messages::sec0_command(),
        "Security 0 session command (52 03 a2 01 00)",
    )?;
    messages::decode_sec0_response(&r).map_err(|e| {
        Stop::Fail(format!(
            "Security 0 session response {}: {e} (spec §3.2)",
            short_hex(&r)
        ))
    })?;
    if ctx.env.profile != Profile::Zephyr {
        ensure!(
            r == [0x52, 0x05, 0x08, 0x01, 0xaa, 0x01, 0x00],
            "Security 0 session response is {}, expected 52050801aa0100 (spec §3.2; vectors/esp-idf/sec0_full_flow.json)",
            hex::encode(&r)
        );
    }
    Ok(())
}
