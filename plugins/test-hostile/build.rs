//! Built as itself, the hostile plugin also exports contract 1.5's
//! `send-all` (with misbehaviours of its own); built as a `twilio-sms`
//! version for the canary tests (`HERALD_PLUGIN_NAME` set) it does not,
//! so those tests' bad sends stay one `send` call each.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sends_all)");
    println!("cargo::rerun-if-env-changed=HERALD_PLUGIN_NAME");
    if std::env::var_os("HERALD_PLUGIN_NAME").is_none() {
        println!("cargo::rustc-cfg=sends_all");
    }
}
