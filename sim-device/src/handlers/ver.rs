//! `proto-ver`: the version JSON, byte-identical to cJSON's formatted printer (spec §1.3).
//!
//! cJSON layout: a newline after `{` and after every member, one TAB per nesting level, a TAB after each
//! `:`, arrays on one line with `", "` between elements, no trailing newline. Built once at start.

use crate::config::{AppInfo, Profile, Sec2Patch, Security};

/// Build the `proto-ver` response for a configuration. `omit_patch` is the misbehaviour
/// `missing-sec-patch-ver`: no `sec_patch_ver` key, whatever the scheme.
pub(crate) fn version_json(
    profile: Profile,
    security: &Security,
    app_info: &[AppInfo],
    omit_patch: bool,
) -> String {
    let mut caps: Vec<&str> = Vec::new();
    match security {
        Security::Sec0 => caps.push("no_sec"),
        Security::Sec1 { pop: None } => caps.push("no_pop"),
        _ => {}
    }
    if profile == Profile::NetworkProv12 {
        caps.push("wifi_prov");
    }
    caps.push("wifi_scan");

    // Security 2 with the legacy IV rule stands for firmware from before the patch: no sec_patch_ver key.
    let patch = match security {
        Security::Sec2 {
            patch: Sec2Patch::V0,
            ..
        } => None,
        Security::Sec2 {
            patch: Sec2Patch::V1,
            ..
        } => Some(1),
        _ => Some(0),
    }
    .filter(|_| !omit_patch);

    let mut members: Vec<(String, String)> = app_info
        .iter()
        .map(|a| {
            let body = object(
                &[
                    ("ver".into(), string(&a.version)),
                    (
                        "cap".into(),
                        array(a.capabilities.iter().map(String::as_str)),
                    ),
                ],
                1,
            );
            (a.label.clone(), body)
        })
        .collect();
    let mut prov = vec![
        ("ver".to_string(), string(profile.version_string())),
        ("sec_ver".to_string(), security.version().to_string()),
    ];
    if let Some(p) = patch {
        prov.push(("sec_patch_ver".to_string(), p.to_string()));
    }
    prov.push(("cap".to_string(), array(caps.into_iter())));
    members.push(("prov".to_string(), object(&prov, 1)));
    object(&members, 0)
}

fn object(members: &[(String, String)], depth: usize) -> String {
    let inner = "\t".repeat(depth + 1);
    let mut s = String::from("{\n");
    for (i, (k, v)) in members.iter().enumerate() {
        s.push_str(&inner);
        s.push_str(&string(k));
        s.push_str(":\t");
        s.push_str(v);
        if i + 1 < members.len() {
            s.push(',');
        }
        s.push('\n');
    }
    s.push_str(&"\t".repeat(depth));
    s.push('}');
    s
}

fn array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(string).collect();
    format!("[{}]", items.join(", "))
}

/// A JSON string as cJSON escapes it.
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn spec_example_sec2_patched() {
        let sec = Security::Sec2 {
            salt: vec![],
            verifier: Secret(vec![]),
            patch: Sec2Patch::V1,
        };
        assert_eq!(
            version_json(Profile::EspIdf55, &sec, &[], false),
            "{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t2,\n\t\t\"sec_patch_ver\":\t1,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t}\n}"
        );
    }

    #[test]
    fn legacy_sec2_omits_patch_version() {
        let sec = Security::Sec2 {
            salt: vec![],
            verifier: Secret(vec![]),
            patch: Sec2Patch::V0,
        };
        let j = version_json(Profile::EspIdf55, &sec, &[], false);
        assert_eq!(j, "{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t2,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t}\n}");
    }

    #[test]
    fn capabilities_per_profile() {
        let j = version_json(
            Profile::NetworkProv12,
            &Security::Sec1 { pop: None },
            &[],
            false,
        );
        assert!(j.contains("\"ver\":\t\"netprov-v1.2\""));
        assert!(j.contains("[\"no_pop\", \"wifi_prov\", \"wifi_scan\"]"));
        let j = version_json(Profile::EspIdf55, &Security::Sec0, &[], false);
        assert!(j.contains("[\"no_sec\", \"wifi_scan\"]"));
        let j = version_json(
            Profile::EspIdf55,
            &Security::Sec1 {
                pop: Some(Secret(vec![])),
            },
            &[],
            false,
        );
        assert!(
            j.contains("[\"wifi_scan\"]"),
            "an empty PoP is still a PoP: {j}"
        );
    }

    #[test]
    fn app_info_precedes_prov() {
        let app = AppInfo {
            label: "my_app".into(),
            version: "1.345".into(),
            capabilities: vec!["cloud".into(), "local_ctrl".into()],
        };
        let j = version_json(Profile::EspIdf55, &Security::Sec0, &[app], false);
        assert!(j.starts_with(
            "{\n\t\"my_app\":\t{\n\t\t\"ver\":\t\"1.345\",\n\t\t\"cap\":\t[\"cloud\", \"local_ctrl\"]\n\t},\n\t\"prov\":\t{"
        ));
    }
}
