//! CSV imports: every awkward file gives its documented answer and writes
//! nothing it should not; the validation report names exactly the bad rows;
//! re-importing changes nothing; a job killed mid-file resumes cleanly.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};

async fn new_list(api: &Api) -> i64 {
    let (status, list) = api.post("/v1/lists", json!({"name": "imported"})).await;
    assert_eq!(status, 201, "{list}");
    list["id"].as_i64().unwrap()
}

async fn list_size(api: &Api, list: i64) -> i64 {
    let (_, l) = api.get(&format!("/v1/lists/{list}")).await;
    l["contacts"].as_i64().unwrap()
}

async fn import(api: &Api, list: i64, query: &str, csv: impl Into<Vec<u8>>) -> (u16, Value) {
    api.post_csv(
        &format!("/v1/lists/{list}/imports?wait=true&{query}"),
        csv.into(),
    )
    .await
}

/// Answers 422 naming `file` with a message containing `says`, and writes
/// neither a contact nor a job.
async fn assert_refused(api: &Api, list: i64, csv: impl Into<Vec<u8>>, says: &str) {
    let (status, body) = import(api, list, "", csv).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "file", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{says:?} not in {message:?}");
    assert_eq!(list_size(api, list).await, 0);
    let (_, jobs) = api.get("/v1/imports").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 0, "{jobs}");
}

async fn awkward_files_get_their_documented_answer(backend: Backend) {
    let herald = Herald::start(backend, &["--import-max-mb", "50"]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;

    assert_refused(&api, list, "", "empty").await;
    assert_refused(&api, list, "phone,name\r\n", "no contacts").await;
    assert_refused(
        &api,
        list,
        "name,plan\n Ana,gold\n",
        "no phone or email column",
    )
    .await;
    assert_refused(
        &api,
        list,
        "phone,plan,phone\n+14155550100,a,b\n",
        "more than once",
    )
    .await;
    let mut latin1 = b"phone,name\n+14155550100,Ana\n+14155550101,".to_vec();
    latin1.extend_from_slice(b"Ren\xE9\n");
    assert_refused(&api, list, latin1, "line 3").await;

    // 60 MB against the default 50 MB limit: 413, nothing kept.
    let mut big = b"phone,notes\n".to_vec();
    let filler = "x".repeat(1000);
    let mut i = 0u64;
    while big.len() < 60 << 20 {
        big.extend_from_slice(
            format!("+1415{:07},{filler}\n", 5_000_000 + i % 1_000_000).as_bytes(),
        );
        i += 1;
    }
    let (status, body) = import(&api, list, "", big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    assert_eq!(list_size(&api, list).await, 0);

    // A BOM, CRLF line ends, quoted cells holding commas, quotes and a newline.
    let csv = "\u{feff}Number,First Name,Notes\r\n\
               +14155550100,Ana,\"likes commas, and \"\"quotes\"\"\"\r\n\
               +14155550101,Bo,\"two\r\nlines\"\r\n";
    let (status, job) = import(&api, list, "", csv).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["imported"], 2, "{job}");
    let (_, page) = api.get(&format!("/v1/lists/{list}/contacts")).await;
    let contacts = &page["items"];
    assert_eq!(contacts[0]["phone"], "+14155550100");
    assert_eq!(
        contacts[0]["first_name"], "Ana",
        "the BOM is not part of the first header"
    );
    assert_eq!(
        contacts[0]["fields"]["notes"],
        "likes commas, and \"quotes\""
    );
    assert_eq!(contacts[1]["fields"]["notes"], "two\r\nlines");

    // 10,000 columns is the documented maximum: accepted, each a custom field.
    let list_wide = new_list(&api).await;
    let mut header = vec!["phone".to_string()];
    header.extend((1..10_000).map(|i| format!("f{i}")));
    let mut row = vec!["+14155550102".to_string()];
    row.extend((1..10_000).map(|i| i.to_string()));
    let wide = format!("{}\n{}\n", header.join(","), row.join(","));
    let (status, job) = import(&api, list_wide, "", wide).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["counts"]["imported"], 1, "{job}");
    let (_, page) = api.get(&format!("/v1/lists/{list_wide}/contacts")).await;
    let contacts = &page["items"];
    assert_eq!(contacts[0]["fields"]["f9999"], "9999");
    header.push("one_too_many".into());
    let (status, body) = import(&api, list_wide, "", format!("{}\n", header.join(","))).await;
    assert_eq!(status, 422, "{body}");

    // A quote that never closes would swallow every row after it: the
    // file is refused, naming the line the quote opens on.
    let hostile = new_list(&api).await;
    let unterminated =
        "phone,notes\n+14155550110,ok\n+14155550111,\"never closed\n+14155550112,lost\n";
    let (status, body) = import(&api, hostile, "", unterminated).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("file")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 3"),
        "{body}"
    );
    assert_eq!(list_size(&api, hostile).await, 0);
    // A NUL byte, a 10 MB cell and a phone extension: rejected rows, named.
    let mut rows = b"phone,first_name,notes\n+14155550120,Ana,fine\n".to_vec();
    rows.extend_from_slice(b"+14155550121,A\0na,nul\n");
    rows.extend_from_slice(format!("+14155550122,Bo,{}\n", "x".repeat(10 << 20)).as_bytes());
    rows.extend_from_slice(b"415-555-0123 x123,Cy,extension\n");
    let (status, job) = import(&api, hostile, "", rows).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        (&job["counts"]["imported"], &job["counts"]["rejected"]),
        (&json!(1), &json!(3)),
        "{job}"
    );
    let id = job["id"].as_i64().unwrap();
    let (_, report) = api.get(&format!("/v1/imports/{id}/rejections")).await;
    let reasons: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["control_character", "cell_too_long", "phone_extension"],
        "{report}"
    );
    let (_, page) = api.get(&format!("/v1/lists/{hostile}/contacts")).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "only Ana: {page}"
    );
}
both_backends!(awkward_files_get_their_documented_answer);

const REPORT_FILE: &str = "\
phone,email,first_name,plan
+14155550100,ana@example.com,Ana,gold
,,Nobody,silver
4155550101,,National,gold
+1123,,Impossible,gold
,not-an-email,Bad Mail,gold
+14155550100,,Again,gold
,ana@example.com,Same Mail,gold
+14155550102,,Short
+14155550103,bo@example.com,Bo,bronze
";

async fn validation_report_names_exactly_the_bad_rows(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;

    // Dry run first: the same report, nothing written.
    let (status, dry) = import(&api, list, "dry_run=true", REPORT_FILE).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        list_size(&api, list).await,
        0,
        "a dry run writes no contact"
    );

    let (status, job) = import(&api, list, "", REPORT_FILE).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        dry["counts"], job["counts"],
        "the dry run predicted the import"
    );
    let expected_counts = json!({"total": 9, "imported": 2, "updated": 0, "unchanged": 0,
        "rejected": 5, "duplicates": 2});
    assert_eq!(job["counts"], expected_counts, "{job}");
    assert_eq!(list_size(&api, list).await, 2);

    let id = job["id"].as_i64().unwrap();
    let (_, report) = api.get(&format!("/v1/imports/{id}/rejections")).await;
    let got: Vec<(i64, String)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_i64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (3, "missing_phone_and_email"),
        (4, "invalid_number"),
        (5, "invalid_number"),
        (6, "invalid_email"),
        (7, "duplicate_in_file"),
        (8, "duplicate_in_file"),
        (9, "wrong_cell_count"),
    ]
    .iter()
    .map(|(r, why)| (*r, why.to_string()))
    .collect();
    assert_eq!(got, want, "{report}");

    let (status, csv) = api
        .get_text(&format!("/v1/imports/{id}/rejections.csv"))
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "row,reason,message,phone,email");
    assert_eq!(lines.len(), 8, "{csv}");
    assert!(
        lines[2].starts_with("4,invalid_number,") && lines[2].contains("4155550101"),
        "{csv}"
    );

    // The national number imports once a default region says where it is.
    let (_, job) = import(&api, list, "default_region=US", REPORT_FILE).await;
    assert_eq!(job["counts"]["imported"], 1, "{job}");
    assert_eq!(job["counts"]["unchanged"], 2, "{job}");
    let (status, body) = import(&api, list, "default_region=XX", REPORT_FILE).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("default_region"))
    );
}
both_backends!(validation_report_names_exactly_the_bad_rows);

fn generated_file(rows: usize, first: usize) -> String {
    let mut csv = String::from("phone,email,first_name,last_name,city,plan\n");
    for i in first..first + rows {
        csv.push_str(&format!(
            "+1415{:07},c{i}@example.com,First{i},Last{i},City{},plan{}\n",
            2_000_000 + i,
            i % 50,
            i % 3
        ));
    }
    csv
}

async fn reimport_changes_nothing_and_export_round_trips(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;
    let file = generated_file(5_000, 0);
    let (_, first) = import(&api, list, "", file.clone()).await;
    assert_eq!(first["counts"]["imported"], 5_000, "{first}");
    let (_, again) = import(&api, list, "", file).await;
    assert_eq!(
        again["counts"],
        json!({"total": 5000, "imported": 0, "updated": 0, "unchanged": 5000, "rejected": 0, "duplicates": 0})
    );
    assert_eq!(list_size(&api, list).await, 5_000);

    // A changed cell updates that contact only; `skip` leaves it alone.
    let changed = "phone,city\n+14152000007,Lisbon\n+14152000008,City8\n";
    let (_, job) = import(&api, list, "existing=skip", changed).await;
    assert_eq!(job["counts"]["duplicates"], 2, "{job}");
    let (_, job) = import(&api, list, "", changed).await;
    assert_eq!(
        (
            job["counts"]["updated"].as_i64(),
            job["counts"]["unchanged"].as_i64()
        ),
        (Some(1), Some(1)),
        "{job}"
    );

    // The export reads back as the very same contacts.
    let (status, csv) = api.get_text(&format!("/v1/lists/{list}/export.csv")).await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 5_001);
    assert!(
        csv.contains("+14152000007,c7@example.com,First7,Last7,,"),
        "{}",
        &csv[..400]
    );
    let other = new_list(&api).await;
    let (_, back) = import(&api, other, "", csv).await;
    assert_eq!(back["counts"]["unchanged"], 5_000, "{back}");

    // A contact whose name is a spreadsheet formula exports as text.
    let hostile = new_list(&api).await;
    let formula = "phone,first_name,city\n+14152100001,\"=HYPERLINK(\"\"http://x.test\"\",\"\"y\"\")\",@SUM(1+1)\n";
    let (_, job) = import(&api, hostile, "", formula).await;
    assert_eq!(job["counts"]["imported"], 1, "{job}");
    let (_, csv) = api
        .get_text(&format!("/v1/lists/{hostile}/export.csv"))
        .await;
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.starts_with("+14152100001,,\"'=HYPERLINK(\"\"http://x.test\"\",\"\"y\"\")\","),
        "the phone stays a number, the formula is text: {row}"
    );
    assert!(row.contains(",'@SUM(1+1)"), "{row}");
}
both_backends!(reimport_changes_nothing_and_export_round_trips);

async fn wait_job(api: &Api, id: i64, pred: impl Fn(&Value) -> bool, within: Duration) -> Value {
    let until = Instant::now() + within;
    loop {
        let (_, job) = api.get(&format!("/v1/imports/{id}")).await;
        if pred(&job) {
            return job;
        }
        assert!(Instant::now() < until, "import {id} stuck: {job}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn killed_import_leaves_whole_batches_and_resumes(backend: Backend) {
    const ROWS: usize = 120_000;
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;
    let (status, job) = api
        .post_csv(
            &format!("/v1/lists/{list}/imports"),
            generated_file(ROWS, 0).into(),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    let job = wait_job(
        &api,
        id,
        |j| j["counts"]["total"].as_i64() > Some(0),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(job["status"], "running", "killed mid-file: {job}");

    let herald = herald.crash_and_restart(&[]).await;
    let api = herald.api(&api.key);
    // The dead runner's lease still holds: what is there is exactly the
    // committed batches, contacts and counters alike.
    let (_, job) = api.get(&format!("/v1/imports/{id}")).await;
    let committed = job["counts"]["imported"].as_i64().unwrap();
    assert!(committed > 0 && committed < ROWS as i64, "{job}");
    assert_eq!(committed % 2000, 0, "whole batches only: {job}");
    assert_eq!(list_size(&api, list).await, committed);

    let job = wait_job(
        &api,
        id,
        |j| j["status"] != "running",
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["counts"],
        json!({"total": ROWS, "imported": ROWS, "updated": 0, "unchanged": 0, "rejected": 0, "duplicates": 0})
    );
    assert_eq!(job["bytes_done"], job["bytes_total"]);
    assert_eq!(list_size(&api, list).await, ROWS as i64);
}
both_backends!(killed_import_leaves_whole_batches_and_resumes);

async fn cancel_stops_at_a_batch_boundary(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;
    // Large enough (about 25 MB) that the import is still running when the
    // cancel arrives, however fast the machine writes.
    const ROWS: usize = 400_000;
    let (_, job) = api
        .post_csv(
            &format!("/v1/lists/{list}/imports"),
            generated_file(ROWS, 0).into(),
        )
        .await;
    let id = job["id"].as_i64().unwrap();
    wait_job(
        &api,
        id,
        |j| j["counts"]["total"].as_i64() > Some(0),
        Duration::from_secs(60),
    )
    .await;
    let (status, cancelled) = api.post_empty(&format!("/v1/imports/{id}/cancel")).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, job) = api.get(&format!("/v1/imports/{id}")).await;
    assert_eq!(job["status"], "cancelled");
    let imported = job["counts"]["imported"].as_i64().unwrap();
    assert!(imported < ROWS as i64, "{job}");
    assert_eq!(list_size(&api, list).await, imported);
    let (status, _) = api.post_empty(&format!("/v1/imports/{id}/cancel")).await;
    assert_eq!(status, 409, "a finished import cannot be cancelled again");
}
both_backends!(cancel_stops_at_a_batch_boundary);

async fn multipart_upload_with_mapping(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let list = new_list(&api).await;
    let csv = "Telefon,Vorname,Kundennummer\n030 901820,Jonas,K-1\n";
    let form = |name: &str| {
        reqwest::multipart::Form::new()
            .text(
                "mapping",
                r#"{"Telefon": "phone", "Vorname": "first_name", "Kundennummer": "customer_id"}"#,
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name(name.to_owned()),
            )
    };
    let send = |form: reqwest::multipart::Form| {
        api.http
            .post(format!(
                "{}/v1/lists/{list}/imports?wait=true&default_region=DE",
                api.base
            ))
            .bearer_auth(&api.key)
            .multipart(form)
            .send()
    };
    let resp = send(form("kunden.csv")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let job: Value = resp.json().await.unwrap();
    assert_eq!(job["filename"], "kunden.csv");
    assert_eq!(job["counts"]["imported"], 1, "{job}");
    let (_, page) = api.get(&format!("/v1/lists/{list}/contacts")).await;
    let contacts = &page["items"];
    assert_eq!(contacts[0]["phone"], "+4930901820");
    assert_eq!(contacts[0]["first_name"], "Jonas");
    assert_eq!(contacts[0]["fields"]["customer_id"], "K-1");

    let resp = send(form(&format!("{}.csv", "n".repeat(127))))
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        422,
        "file names of 127 characters or more are refused"
    );
}
both_backends!(multipart_upload_with_mapping);
