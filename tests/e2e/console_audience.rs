//! The console's audience and settings screens (issue 15). Over HTTP, on
//! SQLite and PostgreSQL: every form post needs the session's CSRF token,
//! another tenant's list, contact or import is a 404, the shared checks'
//! errors come back beside their field, a list a campaign uses is not
//! deleted (409, in the API too), and a CSV goes through upload, mapping,
//! dry run (exactly the bad rows reported, nothing written) and commit. In
//! Chromium: the same upload by hand, search and edit a contact, change
//! the timezone and add a do-not-contact number, with screenshots.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::console_client::{Console, signed_in_browser, skipped};
use crate::harness::{Backend, Herald, numbers_ending};
use crate::webdriver::Browser;

/// A form's fields, as posted.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// Reloads an import's page until it reports its end.
async fn finished_import(s: &Console, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = s.get(path).await;
        assert_eq!(status, 200, "{page}");
        if page.contains("data-status=\"completed\"") {
            return page;
        }
        assert!(!page.contains("data-status=\"failed\""), "{page}");
        assert!(Instant::now() < deadline, "not finished: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A file with three good rows and three bad ones: an invalid number
/// (row 3), an empty row (row 4) and a repeat of row 2 (row 6).
fn leads_csv(numbers: &[String]) -> String {
    format!(
        "phone,first_name,last_name,email\n\
         {},Ana,Lopez,ana@example.com\n\
         12345,Bad,Number,\n\
         ,,,\n\
         {},Ben,Ortiz,ben@example.com\n\
         {},Dup,Again,\n\
         {},Cy,Young,cy@example.com\n",
        numbers[0], numbers[1], numbers[0], numbers[2]
    )
}

/// The text inside the element with this id.
fn text_of_id<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page.find(&format!("id=\"{id}\"")).expect("the element");
    let start = at + page[at..].find('>').unwrap() + 1;
    &page[start..start + page[start..].find('<').unwrap()]
}

/// The rejected rows a report page lists, as (row, reason code).
fn reported_rows(page: &str) -> Vec<(String, String)> {
    page.match_indices("<tr data-row=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            let row = rest[..rest.find('"').unwrap()].to_owned();
            let r = rest.find("data-reason=\"").unwrap() + 13;
            let reason = rest[r..r + rest[r..].find('"').unwrap()].to_owned();
            (row, reason)
        })
        .collect()
}

async fn forms_are_guarded_and_checked(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let used = api.list_with(&numbers_ending("7100", 2, 600)).await;
    api.campaign(channel, used, "Hi").await;
    let (_, spare) = api.post("/v1/lists", json!({ "name": "Spare" })).await;
    let spare = spare["id"].as_i64().unwrap();
    let other = herald.new_tenant("other").await;
    let foreign = other.list_with(&numbers_ending("7200", 1, 600)).await;
    let (_, contacts) = other.get(&format!("/v1/lists/{foreign}/contacts")).await;
    let foreign_contact = contacts["items"][0]["id"].as_i64().unwrap();
    let (_, contacts) = api.get(&format!("/v1/lists/{used}/contacts")).await;
    let contact = contacts["items"][0]["id"].as_i64().unwrap();

    let s = Console::sign_in(&herald, &api.key).await;
    let (status, lists) = s.get("/audience").await;
    assert_eq!(status, 200);
    assert!(
        lists.contains("1 campaign") && lists.contains("Spare"),
        "{lists}"
    );

    // Another tenant's list, contact, export and upload: 404, as if absent.
    for path in [
        format!("/audience/lists/{foreign}"),
        format!("/audience/lists/{foreign}/export.csv"),
        format!("/audience/lists/{foreign}/import"),
        format!("/audience/contacts/{foreign_contact}"),
    ] {
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 404, "{path}: {page}");
        assert!(page.contains("it is not yours"), "{page}");
    }
    let (status, ..) = s
        .post(
            &format!("/audience/lists/{foreign}/delete"),
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!(status, 404);

    // Without the session's CSRF token every post is refused, and nothing
    // changes.
    let posts: [(String, Form); 7] = [
        ("/audience/lists".into(), vec![("name", "X")]),
        (format!("/audience/lists/{spare}/delete"), vec![]),
        (
            format!("/audience/contacts/{contact}"),
            vec![("phone", "+14156107100")],
        ),
        (format!("/audience/contacts/{contact}/delete"), vec![]),
        ("/settings".into(), vec![("timezone", "Asia/Tokyo")]),
        ("/settings/dnc".into(), vec![("address", "+14156107199")]),
        ("/settings/webhook".into(), vec![("rotate_secret", "1")]),
    ];
    for (path, form) in &posts {
        let (status, ..) = s.post(path, form).await;
        assert_eq!(status, 403, "{path} without a token");
        let mut forged = form.clone();
        forged.push((
            "csrf",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ));
        let (status, ..) = s.post(path, &forged).await;
        assert_eq!(status, 403, "{path} with a wrong token");
    }
    let (status, ..) = s
        .upload(
            &format!("/audience/lists/{spare}/import"),
            "phone\n+14156107101\n",
            false,
        )
        .await;
    assert_eq!(status, 403, "an upload without a token");
    let (_, tenant) = api.get("/v1/tenant").await;
    assert_ne!(tenant["timezone"], "Asia/Tokyo");
    let (status, _) = api.get(&format!("/v1/lists/{spare}")).await;
    assert_eq!(status, 200, "the list is still there");
    let (_, dnc) = api.get("/v1/dnc").await;
    assert_eq!(dnc["items"].as_array().unwrap().len(), 0, "{dnc}");

    // The shared checks' errors, beside the field they name.
    let checks: [(&str, Form, &str); 6] = [
        (
            "/settings",
            vec![("timezone", "Mars/Olympus")],
            "timezone-error",
        ),
        (
            "/settings",
            vec![("duplicate_window_hours", "9000")],
            "duplicate_window_hours-error",
        ),
        (
            "/settings/dnc",
            vec![("address", "not-a-number")],
            "address-error",
        ),
        ("/audience/lists", vec![("name", "  ")], "name-error"),
        (
            "/settings",
            vec![("quiet_hours_start", "25:00"), ("quiet_hours_end", "21:00")],
            "quiet_hours-error",
        ),
        (
            "/settings/webhook",
            vec![("reply_url", "ftp://example.com")],
            "reply_url-error",
        ),
    ];
    for (path, mut form, error) in checks {
        form.push(("csrf", &s.csrf));
        let (status, _, page) = s.post(path, &form).await;
        assert_eq!(status, 422, "{path}: {page}");
        assert!(page.contains(&format!("id=\"{error}\"")), "{path}: {page}");
    }
    let (status, _, page) = s
        .post(
            &format!("/audience/contacts/{contact}"),
            &[("csrf", &s.csrf), ("phone", "12")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"phone-error\""), "{page}");

    // The reply webhook: a new signing secret is shown once, then only its
    // end; rotating issues another.
    let (status, _, page) = s
        .post(
            "/settings/webhook",
            &[
                ("csrf", &s.csrf),
                ("reply_url", "https://example.com/replies"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let secret = text_of_id(&page, "new-secret").to_owned();
    let (_, reply) = api.get("/v1/reply-endpoint").await;
    assert_eq!(reply["webhook_secret"], secret.as_str());
    let (_, settings) = s.get("/settings").await;
    assert!(!settings.contains(&secret), "the secret is shown once");
    assert!(settings.contains(&secret[secret.len() - 4..]), "{settings}");
    let (status, _, page) = s
        .post(
            "/settings/webhook",
            &[
                ("csrf", &s.csrf),
                ("reply_url", "https://example.com/replies"),
                ("rotate_secret", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(text_of_id(&page, "new-secret"), secret, "rotated");

    // Do not contact: a CSV imported (its bad row reported), one removed.
    let (status, _, page) = s
        .upload(
            "/settings/dnc/import",
            "phone\n+14156107001\nnot-a-number\n+14156107002\n",
            true,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("2 new addresses listed"), "{page}");
    assert!(page.contains("row 3:"), "{page}");
    let (status, to, _) = s
        .post(
            "/settings/dnc/remove",
            &[("csrf", &s.csrf), ("address", "+14156107001")],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/settings?saved=dnc-removed#dnc")
    );
    let (_, dnc) = api.get("/v1/dnc").await;
    assert_eq!(dnc["items"][0]["address"], "+14156107002", "{dnc}");
    assert_eq!(dnc["items"].as_array().unwrap().len(), 1, "{dnc}");

    // A list a campaign uses is kept, with the reason; the API agrees.
    let (status, _, page) = s
        .post(
            &format!("/audience/lists/{used}/delete"),
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!(status, 409);
    assert!(page.contains("used by 1 campaign"), "{page}");
    let (status, body) = api.delete(&format!("/v1/lists/{used}")).await;
    assert_eq!(status, 409, "{body}");

    // A CSV through the console: mapping, dry run, commit.
    let numbers = numbers_ending("7300", 3, 600);
    let (status, to, page) = s
        .upload(
            &format!("/audience/lists/{spare}/import"),
            &leads_csv(&numbers),
            true,
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert!(
        to.starts_with(&format!("/audience/lists/{spare}/import/")),
        "{to}"
    );
    let (status, mapping) = s.get(&to).await;
    assert_eq!(status, 200);
    assert!(
        mapping.contains("<option value=\"phone\" selected>"),
        "{mapping}"
    );
    // Two columns as the phone: refused beside the mapping, nothing run.
    let (status, _, page) = s
        .post(
            &to,
            &[
                ("csrf", &s.csrf),
                ("role_0", "phone"),
                ("role_1", "phone"),
                ("role_2", "last_name"),
                ("role_3", "email"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("both map to phone"), "{page}");
    let (status, job, page) = s
        .post(
            &to,
            &[
                ("csrf", &s.csrf),
                ("role_0", "phone"),
                ("role_1", "first_name"),
                ("role_2", "last_name"),
                ("role_3", "email"),
                ("existing", "update"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let report = finished_import(&s, &job).await;
    assert_eq!(
        reported_rows(&report),
        [
            ("3".to_owned(), "invalid_number".to_owned()),
            ("4".into(), "missing_phone_and_email".into()),
            ("6".into(), "duplicate_in_file".into()),
        ]
    );
    assert_eq!(text_of_id(&report, "accepted"), "3", "{report}");
    let (_, list) = api.get(&format!("/v1/lists/{spare}")).await;
    assert_eq!(list["contacts"], 0, "a dry run writes nothing");
    let (status, csv) = s.get(&format!("{job}/rejections.csv")).await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let (status, done, _) = s.post(&format!("{job}/commit"), &[("csrf", &s.csrf)]).await;
    assert_eq!(status, 303);
    let (status, ..) = s.post(&format!("{job}/commit"), &[("csrf", &s.csrf)]).await;
    assert_eq!(status, 409, "a second commit imports nothing twice");
    finished_import(&s, &done).await;
    let (_, list) = api.get(&format!("/v1/lists/{spare}")).await;
    assert_eq!(list["contacts"], 3, "{list}");
    // Another tenant cannot see the import.
    let o = Console::sign_in(&herald, &other.key).await;
    assert_eq!(o.get(&done).await.0, 404);
    assert_eq!(o.get(&format!("{job}/rejections.csv")).await.0, 404);

    // Search by name, email or phone digits; keyset pages.
    let (_, page) = s.get(&format!("/audience/lists/{spare}?q=BEN")).await;
    assert_eq!(page.matches("<tr data-contact=").count(), 1, "{page}");
    let (_, page) = s
        .get(&format!("/audience/lists/{spare}?q=cy%40example"))
        .await;
    assert_eq!(page.matches("<tr data-contact=").count(), 1, "{page}");
    let digits = &numbers[2][2..];
    let (_, page) = s.get(&format!("/audience/lists/{spare}?q={digits}")).await;
    assert!(page.contains("Young"), "{page}");
    let (_, page) = s.get(&format!("/audience/lists/{spare}?q=nobody")).await;
    assert!(page.contains("No contact matches"), "{page}");

    // A list no campaign uses is deleted, in the console and the API.
    let (status, to, _) = s
        .post(
            &format!("/audience/lists/{spare}/delete"),
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!((status, to.as_str()), (303, "/audience"));
    let (status, _) = api.get(&format!("/v1/lists/{spare}")).await;
    assert_eq!(status, 404);
    let (_, fresh) = api.post("/v1/lists", json!({ "name": "Fresh" })).await;
    let (status, _) = api
        .delete(&format!("/v1/lists/{}", fresh["id"].as_i64().unwrap()))
        .await;
    assert_eq!(status, 204);
}

crate::both_backends!(forms_are_guarded_and_checked);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_uploads_checks_and_edits_its_audience_in_the_browser() {
    if skipped() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (_, vip) = api
        .post("/v1/lists", json!({ "name": "VIP customers" }))
        .await;
    let vip = vip["id"].as_i64().unwrap();
    api.add_contacts(vip, &numbers_ending("7400", 4, 600)).await;
    api.campaign(channel, vip, "Hi").await;
    let (_, leads) = api
        .post("/v1/lists", json!({ "name": "Spring leads" }))
        .await;
    let leads = leads["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leads.csv");
    std::fs::write(&file, leads_csv(&numbers_ending("7500", 3, 600))).unwrap();

    let browser = signed_in_browser(&herald, &api.key, "/campaigns").await;
    browser.click("header nav a[href=\"/audience\"]").await;
    browser.wait_for_url("/audience").await;
    assert_eq!(browser.count("#lists tbody tr").await, 2);
    browser.screenshot("audience-lists").await;

    // Upload, map (as detected), check: exactly the bad rows, before any
    // contact is written.
    browser
        .click(&format!("#lists a[href=\"/audience/lists/{leads}\"]"))
        .await;
    browser.wait_for("#contacts, .empty").await;
    browser.click("a[href$=\"/import\"]").await;
    browser.wait_for("#file").await;
    browser.type_into("#file", file.to_str().unwrap()).await;
    browser.click("#upload-form button[type=submit]").await;
    browser.wait_for("#mapping-form").await;
    browser.screenshot("csv-mapping").await;
    browser.click("#mapping-form button[type=submit]").await;
    let report = wait_for_report(&browser).await;
    assert_eq!(browser.texts("#rejections td.row").await, ["3", "4", "6"]);
    let reasons = browser.texts("#rejections td.reason").await;
    assert!(
        reasons[0].contains("not a valid phone number"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("neither a phone nor an email"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("same phone or email as row 2"),
        "{reasons:?}"
    );
    assert_eq!(browser.texts("#rejections td.value").await[0], "12345");
    assert_eq!(browser.text("#accepted").await, "3");
    let (_, list) = api.get(&format!("/v1/lists/{leads}")).await;
    assert_eq!(list["contacts"], 0, "nothing written before the commit");
    browser.screenshot("csv-dry-run").await;

    browser.click("#commit-form button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.url().await == report {
        assert!(
            Instant::now() < deadline,
            "the commit did not leave the report"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_report(&browser).await;
    assert_eq!(browser.text("#accepted").await, "3");
    browser.screenshot("csv-imported").await;
    let (_, list) = api.get(&format!("/v1/lists/{leads}")).await;
    assert_eq!(list["contacts"], 3, "{list}");

    // The list: the three contacts; search, then edit one.
    browser
        .goto(&format!("{}/audience/lists/{leads}", herald.base))
        .await;
    assert_eq!(browser.count("#contacts tbody tr").await, 3);
    assert_eq!(
        browser.count("#imports tbody tr").await,
        2,
        "the check and the import"
    );
    browser.screenshot("audience-list").await;
    // At phone width the table keeps name, phone, email and the actions.
    browser.resize(400, 860).await;
    browser.screenshot("audience-list-narrow").await;
    browser.resize(1280, 900).await;
    browser.type_into("#contact-search", "ortiz").await;
    browser.click("form[role=search] button[type=submit]").await;
    browser.wait_for_url("q=ortiz").await;
    assert_eq!(browser.texts("#contacts td.name").await, ["Ben Ortiz"]);
    browser.click("#contacts td.row-actions a").await;
    browser.wait_for("#contact-form").await;
    browser.clear("#c-first_name").await;
    browser.type_into("#c-first_name", "Benjamin").await;
    browser.click("#contact-form button[type=submit]").await;
    browser
        .wait_for_url(&format!("/audience/lists/{leads}"))
        .await;
    browser.wait_for("#contacts").await;
    assert!(
        browser
            .texts("#contacts td.name")
            .await
            .contains(&"Benjamin Ortiz".to_owned())
    );

    // Settings: the timezone kept, a number added to do-not-contact.
    browser.click("header nav a[href=\"/settings\"]").await;
    browser.wait_for("#settings-form").await;
    browser.clear("#timezone").await;
    browser.type_into("#timezone", "Europe/Berlin").await;
    browser.click("#settings-form button[type=submit]").await;
    browser.wait_for_url("/settings?saved=settings").await;
    assert_eq!(
        browser.property("#timezone", "value").await,
        "Europe/Berlin"
    );
    let (_, tenant) = api.get("/v1/tenant").await;
    assert_eq!(tenant["timezone"], "Europe/Berlin");
    browser.screenshot("settings").await;
    browser.type_into("#dnc-address", "+14156107999").await;
    browser.click("#dnc-form button[type=submit]").await;
    browser.wait_for("#dnc-list td.address").await;
    assert!(
        browser
            .text("#dnc-list td.address")
            .await
            .contains("+14156107999")
    );
    let saved = browser.screenshot("settings-dnc").await;
    eprintln!("screens saved beside {}", saved.display());
}

/// Waits until the import page the browser is on shows its report (the
/// page reloads itself while the job runs); answers its URL.
async fn wait_for_report(browser: &Browser) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = browser.url().await;
        if url.contains("/audience/imports/")
            && browser.count("#import-status[data-status=completed]").await == 1
        {
            // Settled: a finished job's page no longer reloads.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return url;
        }
        assert!(Instant::now() < deadline, "no report at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
