//! The console's channel and plugin screens and the demo's sign-in link
//! (issue 15). Over HTTP, on both backends: a channel made from a plugin's
//! generated form keeps its secret out of every page and keeps it when an
//! edit leaves the input empty; forms without the CSRF token are refused;
//! another tenant's channel is a 404; a tenant cannot open the plugins
//! page; a refused upload says why; the demo link signs in once. In
//! Chromium: a tenant creates a channel and sees the secret masked; the
//! admin uploads, activates and rolls back a plugin version, and sees a
//! refused upload's reason. Screens go to target/console-screens/.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

use crate::both_backends;
use crate::console_client::{Session, csrf, location, signed_in_browser, skipped};
use crate::harness::{ADMIN_KEY, Backend, Herald, artifact, numbers_ending};
use crate::support::whatsapp_channel;

const SECRET: &str = "tok-7f3a9c-never-shown";

/// Posts a plugin component to the plugins page's upload form.
async fn upload_plugin(s: &Session, csrf: &str, file: Vec<u8>) -> reqwest::Response {
    s.upload("/plugins/upload", Some(csrf), "plugin.wasm", file)
        .await
}

/// An audit log's entries as `action target`.
fn audited(log: &Value) -> Vec<String> {
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect()
}

async fn channels_of(api: &crate::api_client::Api) -> Vec<Value> {
    let (status, list) = api.get("/v1/channels").await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn a_tenant_manages_its_channels_in_the_console(backend: Backend) {
    // The simulator checks the token: the channel sends only with SECRET.
    let sim = Simulator::start(SimConfig {
        twilio_auth_token: SECRET.into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let other = herald.new_tenant("other").await;
    let foreign = other.sim_channel(&sim, "twilio-sms").await;
    let tenant = Session::signed_in(&herald, &api.key).await;

    let empty = tenant.page("/channels").await;
    assert!(empty.contains("No channels yet"), "{empty}");
    let picker = tenant.page("/channels/new").await;
    assert!(
        picker.contains("/channels/new?plugin=twilio-sms"),
        "{picker}"
    );
    // The form has exactly the plugin's fields; the secret one is a password.
    let form = tenant.page("/channels/new?plugin=twilio-sms").await;
    for input in ["name=\"config.account-sid\"", "name=\"config.base-url\""] {
        assert!(form.contains(input), "{input}: {form}");
    }
    assert!(
        form.contains("type=\"password\" name=\"secret.auth-token\""),
        "{form}"
    );
    let token = csrf(&form);
    let sim_host = sim.base_url();
    let mut post = vec![
        ("plugin", "twilio-sms"),
        ("name", "Main SMS"),
        ("sender", "+15005550006"),
        (
            "config.account-sid",
            sim.config().twilio_account_sid.as_str(),
        ),
        ("config.base-url", sim_host.as_str()),
        ("secret.auth-token", SECRET),
        ("allowed_hosts", "127.0.0.1"),
        ("rate", ""),
    ];
    // Without the session's token: refused, nothing stored.
    let r = tenant.post("/channels/new", &post).await;
    assert_eq!(r.status(), 403);
    assert!(channels_of(&api).await.is_empty());
    post.push(("csrf", token.as_str()));
    // A refusal from the API's checks is shown next to its field, and the
    // typed secret is not sent back.
    let mut bad = post.clone();
    bad.retain(|(k, _)| *k != "config.account-sid");
    let r = tenant.post("/channels/new", &bad).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"f-config-account-sid-error\""), "{html}");
    assert!(!html.contains(SECRET), "the refused form echoes the secret");
    let r = tenant.post("/channels/new", &post).await;
    assert_eq!(r.status(), 303);
    let saved = location(&r);
    assert!(saved.ends_with("?saved=1"), "{saved}");
    let id: i64 = saved["/channels/".len()..saved.len() - "?saved=1".len()]
        .parse()
        .unwrap();
    let page = tenant.page(saved).await;
    assert!(page.contains("••••••"), "{page}");
    assert!(!page.contains(SECRET), "the secret is in the channel page");
    assert!(!tenant.page("/channels").await.contains(SECRET));
    let (_, c) = api.get(&format!("/v1/channels/{id}")).await;
    assert_eq!(c["secrets"], json!(["auth-token"]));
    // In the tenant's audit log like an API change, without the secret.
    let (_, log) = api.get("/v1/audit-log").await;
    let entry = format!("POST /channels/new /channels #{id}");
    assert!(audited(&log).contains(&entry), "{log}");
    assert!(!log.to_string().contains(SECRET));

    // An edit with the secret input empty keeps the secret: the channel
    // still sends (the simulator checks the token).
    let token = csrf(&page);
    let account = sim.config().twilio_account_sid.clone();
    let edit = [
        ("csrf", token.as_str()),
        ("plugin", "twilio-sms"),
        ("name", "Main SMS (renamed)"),
        ("sender", "+15005550006"),
        ("config.account-sid", account.as_str()),
        ("config.base-url", sim_host.as_str()),
        ("secret.auth-token", ""),
        ("allowed_hosts", "127.0.0.1"),
        ("rate", "7"),
    ];
    let r = tenant.post(&format!("/channels/{id}"), &edit[1..]).await;
    assert_eq!(r.status(), 403, "an edit without the CSRF token");
    let r = tenant.post(&format!("/channels/{id}"), &edit).await;
    assert_eq!(r.status(), 303);
    let (_, c) = api.get(&format!("/v1/channels/{id}")).await;
    assert_eq!(
        (c["name"].as_str(), c["rate_per_second"].as_i64()),
        (Some("Main SMS (renamed)"), Some(7))
    );
    let list = api.list_with(&numbers_ending("6100", 1, 600)).await;
    let campaign = api.campaign(id, list, "Hi").await;
    api.start_to_completion(campaign, Duration::from_secs(30))
        .await;
    let members = api.all_members(campaign).await;
    assert_eq!(members[0]["status"], "delivered", "{members:?}");

    // Another tenant's channel does not exist for this one.
    let r = tenant.get(&format!("/channels/{foreign}")).await;
    assert_eq!(r.status(), 404);
    let r = tenant.post(&format!("/channels/{foreign}"), &edit).await;
    assert_eq!(r.status(), 404);
    let (_, theirs) = other.get(&format!("/v1/channels/{foreign}")).await;
    assert_ne!(theirs["name"], "Main SMS (renamed)");
    let r = tenant
        .post(
            &format!("/channels/{foreign}/templates/sync"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status(), 404);

    // A WhatsApp channel syncs its templates from its page.
    let wa = whatsapp_channel(&api, &sim, &herald).await;
    let page = tenant.page(&format!("/channels/{wa}")).await;
    assert!(page.contains("No templates synced yet"), "{page}");
    let r = tenant
        .post(&format!("/channels/{wa}/templates/sync"), &[])
        .await;
    assert_eq!(r.status(), 403);
    let r = tenant
        .post(
            &format!("/channels/{wa}/templates/sync"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = tenant.page(location(&r)).await;
    assert!(page.contains("order_update"), "{page}");
    assert!(page.contains("APPROVED"), "{page}");
    assert!(!page.contains(&sim.config().whatsapp_access_token));
}
both_backends!(a_tenant_manages_its_channels_in_the_console);

async fn the_plugins_page_is_the_admins(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let tenant = Session::signed_in(&herald, &api.key).await;
    let r = tenant.get("/plugins").await;
    assert_eq!(r.status(), 403, "a tenant opens the plugins page");
    assert!(!r.text().await.unwrap().contains("Upload a version"));
    let token = csrf(&tenant.page("/channels").await);
    let r = tenant
        .post("/plugins/twilio-sms/disable", &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), 403);
    let r = upload_plugin(&tenant, &token, artifact("twilio_sms_v2.wasm")).await;
    assert_eq!(r.status(), 403);
    let admin_api = herald.admin();
    assert!(admin_api.admin_plugin("twilio-sms").await["active_sha256"].is_string());
    assert_eq!(
        admin_api.admin_plugin("twilio-sms").await["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let admin = Session::signed_in(&herald, ADMIN_KEY).await;
    let page = admin.page("/plugins").await;
    assert!(page.contains("data-plugin=\"twilio-sms\""), "{page}");
    let token = csrf(&page);
    // Without the CSRF token: refused, the plugin as it was.
    let r = admin.post("/plugins/twilio-sms/disable", &[]).await;
    assert_eq!(r.status(), 403);
    let r = upload_plugin(&admin, "", artifact("twilio_sms_v2.wasm")).await;
    assert_eq!(r.status(), 403);
    assert!(admin_api.admin_plugin("twilio-sms").await["active_sha256"].is_string());
    // A refused upload says why, as the API would.
    let r = upload_plugin(&admin, &token, artifact("test_other_world.wasm")).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("does not implement the provider world"),
        "{html}"
    );
    // One byte over the limit: refused with the limit, nothing installed.
    let r = upload_plugin(&admin, &token, vec![0; (40 << 20) + 1]).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("larger than the 40 MiB"));
    assert_eq!(
        admin_api.admin_plugin("twilio-sms").await["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Nothing to roll back to yet: the reason on the plugin's card.
    let r = admin
        .post("/plugins/twilio-sms/rollback", &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("no earlier version"));
    // Disable, then activate the version again.
    let before = admin_api.admin_plugin("twilio-sms").await;
    let sha = before["active_sha256"].as_str().unwrap().to_owned();
    let r = admin
        .post("/plugins/twilio-sms/disable", &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(admin_api.admin_plugin("twilio-sms").await["active_sha256"].is_null());
    let page = admin.page(location(&r)).await;
    assert!(page.contains("Disabled"), "{page}");
    let r = admin
        .post(
            "/plugins/twilio-sms/activate",
            &[("csrf", &token), ("sha256", &sha)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        admin_api.admin_plugin("twilio-sms").await["active_sha256"],
        sha.as_str()
    );
    let (_, log) = admin_api.get("/v1/admin/audit-log").await;
    let seen = audited(&log);
    for action in ["disable", "activate"] {
        let entry = format!("POST /plugins/{{name}}/{action} /plugins/twilio-sms");
        assert!(seen.contains(&entry), "{entry}: {log}");
    }
}
both_backends!(the_plugins_page_is_the_admins);

async fn the_demo_link_signs_in_once(backend: Backend) {
    let herald = Herald::start(backend, &["--demo"]).await;
    let prefix = "Sign in with one click (valid 15 minutes, once): ";
    let deadline = Instant::now() + Duration::from_secs(20);
    let link = loop {
        let printed = herald
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned));
        if let Some(link) = printed {
            break link;
        }
        assert!(Instant::now() < deadline, "no sign-in link printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let path = link
        .trim()
        .strip_prefix(&herald.base)
        .expect("a link to this server")
        .to_owned();
    assert!(path.starts_with("/login/link/"), "{path}");
    let mut s = Session::new(&herald);
    let r = s.get(&path).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/campaigns");
    s.take_cookie(&r);
    let page = s.page("/campaigns").await;
    assert!(page.contains("Signed in as demo"), "{page}");
    // Used once: refused, and no session comes with the refusal.
    let again = Session::new(&herald).get(&path).await;
    assert_eq!(again.status(), 410);
    assert!(again.headers().get(SET_COOKIE).is_none());
    let forged = Session::new(&herald).get("/login/link/0123").await;
    assert_eq!(forged.status(), 410);
}
both_backends!(the_demo_link_signs_in_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_creates_a_channel_in_the_browser_and_its_secret_stays_hidden() {
    if skipped() {
        return;
    }
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let browser = signed_in_browser(&herald, &api.key, "/campaigns").await;
    browser.goto(&format!("{}/channels", herald.base)).await;
    browser.click("a[href=\"/channels/new\"]").await;
    browser.wait_for_url("/channels/new").await;
    browser
        .click("a[href=\"/channels/new?plugin=twilio-sms\"]")
        .await;
    browser.wait_for_url("?plugin=twilio-sms").await;
    browser.screenshot("channel-new").await;
    browser.type_into("#f-name", "Main SMS").await;
    browser.type_into("#f-sender", "+15005550006").await;
    browser
        .type_into("#f-config-account-sid", "AC0123456789")
        .await;
    browser.type_into("#f-secret-auth-token", SECRET).await;
    browser.click(".channel-form button[type=submit]").await;
    browser.wait_for_url("?saved=1").await;
    let shown = browser
        .text("#settings tr[data-setting=\"auth-token\"] td")
        .await;
    assert!(shown.contains("••••••") && shown.contains("set"), "{shown}");
    assert!(
        !browser.source().await.contains(SECRET),
        "the secret is in the page"
    );
    browser.screenshot("channel-saved-masked").await;
    let (_, c) = api.get("/v1/channels").await;
    assert_eq!(c["items"][0]["secrets"], json!(["auth-token"]), "{c}");
    browser.goto(&format!("{}/channels", herald.base)).await;
    assert_eq!(browser.text("#channels tbody td a").await, "Main SMS");
    browser.screenshot("channels").await;
    // At a phone's width the same pages still read (saved for review).
    browser.resize(400, 900).await;
    browser.screenshot("channels-narrow").await;
    browser.click("#channels tbody td a").await;
    browser
        .wait_for_url(&format!("/channels/{}", c["items"][0]["id"]))
        .await;
    browser.screenshot("channel-narrow").await;
}

fn artifact_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts")
        .join(file)
        .canonicalize()
        .expect("run ./dev.sh build first")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_activates_and_rolls_back_a_plugin_in_the_browser() {
    if skipped() {
        return;
    }
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let admin = herald.admin();
    let old = admin.admin_plugin("twilio-sms").await["active_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = signed_in_browser(&herald, ADMIN_KEY, "/plugins").await;
    browser
        .choose_file("#f-file", &artifact_path("twilio_sms_v2.wasm"))
        .await;
    browser.click("form.upload button[type=submit]").await;
    browser.wait_for_url_containing("done=installed").await;
    let versions = admin.admin_plugin("twilio-sms").await["versions"].clone();
    let new = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sha256"].as_str().unwrap().to_owned())
        .find(|s| *s != old)
        .expect("the uploaded version is installed");
    let state = |sha: &str| format!("tr[data-sha256=\"{sha}\"] td.version-state");
    assert_eq!(browser.text(&state(&new)).await, "Installed");
    browser.screenshot("plugins").await;

    browser
        .click(&format!("tr[data-sha256=\"{new}\"] button.activate"))
        .await;
    browser.wait_for_url_containing("done=activated").await;
    assert_eq!(browser.text(&state(&new)).await, "Active");
    assert_eq!(browser.text(&state(&old)).await, "Previous");
    assert_eq!(
        admin.admin_plugin("twilio-sms").await["active_sha256"],
        new.as_str()
    );
    browser.screenshot("plugins-activated").await;

    browser
        .click("section[data-plugin=\"twilio-sms\"] button.rollback")
        .await;
    browser.wait_for_url_containing("done=rolled_back").await;
    assert_eq!(browser.text(&state(&old)).await, "Active");
    assert_eq!(
        admin.admin_plugin("twilio-sms").await["active_sha256"],
        old.as_str()
    );

    browser
        .choose_file("#f-file", &artifact_path("test_other_world.wasm"))
        .await;
    browser.click("form.upload button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if browser.source().await.contains("f-file-error") {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refusal = browser.text("#f-file-error").await;
    assert!(
        refusal.contains("does not implement the provider world"),
        "{refusal}"
    );
    browser.screenshot("plugins-refused").await;
    browser.resize(400, 900).await;
    browser
        .goto(&format!("{}/plugins#plugin-twilio-sms", herald.base))
        .await;
    browser.screenshot("plugins-narrow").await;
}
