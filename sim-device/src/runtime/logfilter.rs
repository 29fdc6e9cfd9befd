//! The one log filter of provlab's binaries: `RUST_LOG`, except that bluer's trace output stays off
//! unless `RUST_LOG` names bluer itself. At trace level bluer prints every GATT value it reads and
//! writes, and under Security 0 those values are the plaintext SetConfig with the Wi-Fi passphrase;
//! "RUST_LOG=trace" must not put secrets in a log (the secret scan of `cargo xtask reliability`).

use tracing_subscriber::EnvFilter;

/// The filter from `RUST_LOG` (or `default` when unset or invalid), with bluer capped at debug.
pub fn from_env(default: &str) -> EnvFilter {
    let spec = std::env::var("RUST_LOG").ok();
    let filter = spec
        .as_deref()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    if spec.is_some_and(|s| s.contains("bluer")) {
        return filter;
    }
    match "bluer=debug".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_everywhere_still_keeps_bluer_at_debug() {
        // EnvFilter's Display lists its directives; the bluer one must be there.
        let f = EnvFilter::new("trace").add_directive("bluer=debug".parse().unwrap());
        assert!(f.to_string().contains("bluer=debug"));
        assert!(from_env("info").to_string().contains("bluer=debug"));
    }
}
