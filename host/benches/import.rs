//! CSV import at scale, printed as figures
//! (`cargo bench -p herald --bench import`, or `-- ROWS` for another size):
//! - generates a ROWS-row file (default 1,000,000) with realistic mixed
//!   numbers: six countries, national and international forms, 5% invalid,
//!   3% repeats of an earlier row, three custom fields;
//! - the raw ceiling: reading, parsing, normalising and deduping the file
//!   without writing anything;
//! - the import job on SQLite and on PostgreSQL (skipped when
//!   HERALD_SKIP_POSTGRES is set or PostgreSQL does not answer);
//! - peak RSS of each phase (VmHWM, reset between phases).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use herald::domain::phone::Region;
use herald::engine::Importer;
use herald::engine::import_reader::read_batches;
use herald::store::{Checkpoint, NewImportJob, Store};

/// A valid number, distinct for each `i`, in one of six countries and in
/// the forms people write (formatted international, plain E.164, national
/// with the default region US).
fn valid_number(i: u64) -> String {
    let k = i / 6;
    match i % 6 {
        0 => format!("(415) {:03}-{:04}", 200 + k / 10_000 % 800, k % 10_000), // US, national
        1 => format!("+44 20 7{:03} {:04}", k / 10_000 % 1000, k % 10_000),    // London
        2 => format!("+4930{:08}", 20_000_000 + k),                            // Berlin, E.164
        3 => format!(
            "+33 6 {:02} {:02} {:02} {:02}",
            k / 1_000_000 % 100,
            k / 10_000 % 100,
            k / 100 % 100,
            k % 100
        ),
        4 => format!("+55 11 9{:04}-{:04}", 5000 + k / 10_000 % 5000, k % 10_000), // São Paulo mobile
        _ => format!("+91 98{:03} {:05}", k / 100_000 % 1000, k % 100_000),        // India mobile
    }
}

/// Writes the benchmark file; returns its size in bytes.
fn generate(path: &Path, rows: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "phone,email,first_name,last_name,city,plan,signup_date"
    )
    .unwrap();
    let cities = [
        "Lisboa",
        "Berlin",
        "London",
        "São Paulo",
        "Mumbai",
        "Paris",
        "Austin",
    ];
    for i in 0..rows {
        // A cheap deterministic scramble so invalid and repeated rows spread out.
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let phone = match h % 100 {
            0..=4 => ["+1123", "12345", "n/a", "+99912345678", "+4930"][(h / 100 % 5) as usize]
                .to_owned(),
            5..=7 if i > 100 => valid_number(i / 2), // a repeat of an earlier row
            _ => valid_number(i),
        };
        let email = if h % 3 == 0 {
            format!("user{i}@example.com")
        } else {
            String::new()
        };
        writeln!(
            out,
            "{phone},{email},First{i},\"Last, {i}\",{},plan{},2026-{:02}-{:02}",
            cities[(h % 7) as usize],
            h % 4,
            1 + h % 12,
            1 + h % 28
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn reset_peak_rss() {
    // "5" resets VmHWM to the current RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn ceiling(path: &Path) -> (Duration, u64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let started = Instant::now();
    let path = path.to_owned();
    let reader = std::thread::spawn(move || {
        read_batches(
            &path,
            &BTreeMap::new(),
            Some(Region::parse("US").unwrap()),
            Checkpoint::default(),
            tx,
        )
    });
    let mut rows = 0;
    while let Some(batch) = rx.blocking_recv() {
        rows += (batch.rows.len() + batch.rejected.len()) as u64;
    }
    reader.join().unwrap().unwrap();
    (started.elapsed(), rows)
}

async fn import(url: &str, file: &Path, data: &Path) -> (Duration, herald::store::ImportJob) {
    let store = Store::connect(url).await.unwrap();
    let tenant = store
        .create_tenant("bench", &format!("key-{url}"))
        .await
        .unwrap();
    let list = store.create_list(tenant.id, "bench").await.unwrap();
    let importer = Importer::new(store.clone(), "bench".into(), data).unwrap();
    let spool = importer.spool_dir().join("bench.csv");
    std::fs::copy(file, &spool).unwrap();
    let job = store
        .create_import_job(
            tenant.id,
            NewImportJob {
                list_id: list.id,
                campaign_id: None,
                dry_run: false,
                existing: "update".into(),
                default_region: Some("US".into()),
                mapping: BTreeMap::new(),
                filename: None,
                spool_path: spool.display().to_string(),
                bytes_total: std::fs::metadata(&spool).unwrap().len() as i64,
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    importer.spawn(job.id);
    let job = importer
        .wait(tenant.id, job.id, Duration::from_secs(3600))
        .await
        .unwrap();
    (started.elapsed(), job)
}

fn print_import(label: &str, elapsed: Duration, job: &herald::store::ImportJob) {
    let c = &job.counts;
    println!(
        "{label:<28} {:>7.2} s  {:>9.0} rows/s  peak RSS {:>6.1} MiB  [{:?}: imported {} rejected {} duplicates {}]",
        elapsed.as_secs_f64(),
        c.total as f64 / elapsed.as_secs_f64(),
        common::peak_rss_mib("self"),
        job.status,
        c.imported,
        c.rejected,
        c.duplicates
    );
}

fn main() {
    let rows: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    let started = Instant::now();
    let bytes = generate(&file, rows);
    println!(
        "generated {rows} rows, {:.1} MB in {:.1?}",
        bytes as f64 / 1e6,
        started.elapsed()
    );

    reset_peak_rss();
    let (elapsed, seen) = ceiling(&file);
    println!(
        "{:<28} {:>7.2} s  {:>9.0} rows/s  peak RSS {:>6.1} MiB  (read, parse, normalise, dedupe; no writes)",
        "raw ceiling",
        elapsed.as_secs_f64(),
        seen as f64 / elapsed.as_secs_f64(),
        common::peak_rss_mib("self")
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reset_peak_rss();
        let url = format!("sqlite:{}", dir.path().join("bench.db").display());
        let (elapsed, job) = import(&url, &file, &dir.path().join("data-sqlite")).await;
        print_import("import, SQLite", elapsed, &job);

        match common::postgres_url("herald_bench").await {
            Some(url) => {
                reset_peak_rss();
                let (elapsed, job) = import(&url, &file, &dir.path().join("data-pg")).await;
                print_import("import, PostgreSQL", elapsed, &job);
                common::drop_database(&url).await;
            }
            None => println!("import, PostgreSQL: skipped (not reachable or HERALD_SKIP_POSTGRES)"),
        }
    });
}
