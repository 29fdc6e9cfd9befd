//! `proto-ver`: the version document and capabilities (spec §1.3, §1.4, §8.1).

use crate::case::Group::Version as G;
use serde_json::Value;

use crate::case::{always, secure, session_possible, Case, Ctx, Env, Step, Stop};
use crate::ensure;
use crate::link::Transport;
use prov_client::Profile;

/// The version cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case(
            "VER-JSON",
            "proto-ver answers a JSON object with a `prov` object",
            always,
            json,
        ),
        G.case(
            "VER-STRING",
            "prov.ver is the profile's version string",
            always,
            ver_string,
        ),
        G.case(
            "VER-SEC-VER",
            "prov.sec_ver is the configured scheme",
            always,
            sec_ver,
        ),
        G.case(
            "VER-SEC-PATCH",
            "prov.sec_patch_ver: 0 for Sec0/1, 1 for patched Sec2; absent on Zephyr",
            always,
            sec_patch,
        ),
        G.case(
            "VER-CAPS",
            "prov.cap holds exactly the profile's capabilities (a set: clients look them up; VER-LAYOUT checks the order)",
            always,
            caps,
        ),
        G.case(
            "VER-LAYOUT",
            "the JSON text has cJSON's formatted layout (ESP-IDF) or compact (Zephyr)",
            always,
            layout,
        ),
        G.case(
            "VER-BODY-IGNORED",
            "the request body does not change the answer (`none`, `---`, `ESP`, 100 bytes)",
            always,
            body_ignored,
        ),
        G.case(
            "VER-PLAINTEXT-IN-SESSION",
            "proto-ver stays plaintext and unchanged after a handshake",
            |e| secure(e).or_else(|| session_possible(e)),
            in_session,
        ),
        G.case(
            "VER-EMPTY-BODY",
            "HTTP: an empty body is rejected (ESP-IDF) or answered (Zephyr)",
            http_only,
            empty_body,
        ),
    ]
}

fn http_only(env: &Env<'_>) -> Option<String> {
    (env.transport != Transport::Http).then(|| "HTTP transport only".into())
}

fn prov(v: &Value) -> Step<&serde_json::Map<String, Value>> {
    v.get("prov")
        .and_then(Value::as_object)
        .ok_or_else(|| Stop::Fail(format!("no `prov` object in {v}")))
}

fn json(ctx: &mut Ctx<'_>) -> Step<()> {
    let v = ctx.version()?;
    let p = prov(&v)?;
    for key in ["ver", "cap"] {
        ensure!(p.contains_key(key), "prov has no `{key}`: {v}");
    }
    ensure!(p["cap"].is_array(), "prov.cap is not an array: {v}");
    Ok(())
}

fn ver_string(ctx: &mut Ctx<'_>) -> Step<()> {
    let v = ctx.version()?;
    let want = ctx.env.profile.version_string();
    ensure!(
        prov(&v)?.get("ver").and_then(Value::as_str) == Some(want),
        "prov.ver = {}, expected {want:?} for profile {}",
        prov(&v)?.get("ver").unwrap_or(&Value::Null),
        ctx.env.profile
    );
    Ok(())
}

fn sec_ver(ctx: &mut Ctx<'_>) -> Step<()> {
    let v = ctx.version()?;
    let got = prov(&v)?.get("sec_ver").and_then(Value::as_u64);
    ensure!(
        got == Some(u64::from(ctx.env.security)),
        "prov.sec_ver = {got:?}, expected {}",
        ctx.env.security
    );
    Ok(())
}

fn sec_patch(ctx: &mut Ctx<'_>) -> Step<()> {
    let v = ctx.version()?;
    let got = prov(&v)?.get("sec_patch_ver").and_then(Value::as_u64);
    let want = match ctx.env.profile {
        Profile::Zephyr => None,
        _ => Some(u64::from(ctx.env.security == 2)),
    };
    ensure!(
        got == want,
        "prov.sec_patch_ver = {got:?}, expected {want:?} (spec §1.3; clients pick the Sec2 IV rule from it)"
    );
    Ok(())
}

/// The capability list the profile publishes for this configuration.
fn expected_caps(env: &Env<'_>) -> Vec<&'static str> {
    let no_pop = env.security == 1 && env.desc.pop.is_none();
    let mut caps = Vec::new();
    match env.profile {
        Profile::Zephyr => {
            caps.extend(["wifi_prov", "wifi_scan"]);
            if no_pop {
                caps.push("no_pop");
            }
        }
        p => {
            if env.security == 0 {
                caps.push("no_sec");
            } else if no_pop {
                caps.push("no_pop");
            }
            if p == Profile::NetworkProv12 {
                caps.push("wifi_prov");
            }
            caps.push("wifi_scan");
        }
    }
    caps
}

fn caps(ctx: &mut Ctx<'_>) -> Step<()> {
    let v = ctx.version()?;
    let got: Vec<String> = prov(&v)?
        .get("cap")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let want = expected_caps(&ctx.env);
    // Clients test membership (esp_prov's `'wifi_scan' in cap`), so the order is VER-LAYOUT's business.
    let got_set: std::collections::BTreeSet<&str> = got.iter().map(String::as_str).collect();
    let want_set: std::collections::BTreeSet<&str> = want.iter().copied().collect();
    ensure!(
        got_set == want_set && got.len() == want.len(),
        "prov.cap = {got:?}, expected the capabilities {want:?} ({} profile; spec §1.3)",
        ctx.env.profile
    );
    Ok(())
}

fn layout(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = ctx.expect_data("proto-ver", b"---", "proto-ver")?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let caps = expected_caps(&ctx.env)
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>();
    let want = match ctx.env.profile {
        Profile::Zephyr => format!(
            "{{\"prov\":{{\"ver\":\"v1.1\",\"sec_ver\":{},\"cap\":[{}]}}}}",
            ctx.env.security,
            caps.join(",")
        ),
        p => format!(
            "\t\"prov\":\t{{\n\t\t\"ver\":\t\"{}\",\n\t\t\"sec_ver\":\t{},\n\t\t\"sec_patch_ver\":\t{},\n\t\t\"cap\":\t[{}]\n\t}}\n}}",
            p.version_string(),
            ctx.env.security,
            u8::from(ctx.env.security == 2),
            caps.join(", ")
        ),
    };
    // Application labels may precede `prov`; the `prov` block and the end are fixed.
    ensure!(
        text.ends_with(&want) && text.starts_with('{'),
        "proto-ver text {text:?} does not end with the {} layout {want:?}",
        ctx.env.profile
    );
    Ok(())
}

fn body_ignored(ctx: &mut Ctx<'_>) -> Step<()> {
    let first = ctx.expect_data("proto-ver", b"none", "proto-ver \"none\"")?;
    let long = vec![0xA5u8; 100];
    for body in [&b"---"[..], b"ESP", b"v1.1", &long] {
        let again = ctx.expect_data("proto-ver", body, "proto-ver, other body")?;
        ensure!(
            again == first,
            "proto-ver answer changed with the request body ({:?})",
            String::from_utf8_lossy(body)
        );
    }
    Ok(())
}

fn in_session(ctx: &mut Ctx<'_>) -> Step<()> {
    let before = ctx.expect_data("proto-ver", b"---", "proto-ver before the handshake")?;
    ctx.handshake()?;
    let after = ctx.expect_data("proto-ver", b"---", "proto-ver in the session")?;
    ensure!(
        after == before,
        "proto-ver changed after the handshake (it must stay plaintext, spec §1.2)"
    );
    Ok(())
}

fn empty_body(ctx: &mut Ctx<'_>) -> Step<()> {
    match ctx.env.profile {
        Profile::Zephyr => {
            ctx.expect_data("proto-ver", b"", "proto-ver with an empty body")?;
        }
        _ => ctx.expect_none("proto-ver", b"", "proto-ver with an empty body")?,
    }
    Ok(())
}
