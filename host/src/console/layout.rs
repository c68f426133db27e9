//! The page shell every console page shares: navigation, type, colour,
//! and the badges of seed 000 (type and status, each with its text, so
//! colour is never the only signal).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::{Signed, Who};

const STYLE: &str = r#"
:root { --ink:#1d2330; --muted:#5d6675; --line:#e3e6ec; --bg:#f6f7f9; --accent:#2f5bd3; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
header { display:flex; gap:1.5rem; align-items:center; padding:.75rem 1.5rem; background:#fff; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header .brand { font-weight:700; font-size:1.1rem; }
header nav { display:flex; gap:1rem; flex:1; }
header a { color:var(--ink); text-decoration:none; }
header a:hover, header a:focus { text-decoration:underline; }
main { max-width:1200px; margin:1.5rem auto; padding:0 1.5rem; }
h1 { font-size:1.4rem; margin:0 0 1rem; }
table { width:100%; border-collapse:collapse; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:.55rem .75rem; border-bottom:1px solid var(--line); vertical-align:middle; }
th { font-size:.8rem; text-transform:uppercase; letter-spacing:.03em; color:var(--muted); }
.badge { display:inline-block; padding:.1rem .55rem; border-radius:999px; font-size:.8rem; font-weight:600; color:#fff; white-space:nowrap; }
.t-whatsapp { background:#1f9d55; } .t-sms { background:#2f6fd6; } .t-voice { background:#7b3fc4; } .t-email { background:#c2570c; }
.s-running { background:#1f9d55; } .s-scheduled { background:#2f6fd6; } .s-paused { background:#b7791f; }
.s-completed, .s-cancelled, .s-archived { background:#6b7280; } .s-cancelled { text-decoration:line-through; }
.s-draft { background:#9aa3b2; } .s-retrying, .s-pending { background:#0e7490; } .s-stopped { background:#b42318; }
.bar { position:relative; height:.55rem; width:9rem; background:var(--line); border-radius:999px; overflow:hidden; }
.bar > span { position:absolute; inset:0 auto 0 0; background:var(--accent); }
.muted { color:var(--muted); }
form.inline { display:inline; }
button, .button { font:inherit; padding:.4rem .9rem; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:#b42318; border-color:#b42318; }
input, select { font:inherit; padding:.4rem .5rem; border:1px solid #c9ced8; border-radius:6px; background:#fff; }
:focus-visible { outline:3px solid #9db7ff; outline-offset:2px; }
.filters { display:flex; gap:.75rem; align-items:end; margin-bottom:1rem; flex-wrap:wrap; }
.filters label { display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); }
.empty { background:#fff; border:1px dashed #c9ced8; padding:2rem; text-align:center; border-radius:8px; }
.error { color:#b42318; }
.pager { display:flex; gap:1rem; margin-top:1rem; align-items:center; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:1rem 1.25rem; margin-bottom:1rem; }
.actions { display:flex; gap:.5rem; flex-wrap:wrap; margin:1rem 0; }
@media (max-width: 700px) {
  .hide-narrow { display:none; }
  main { padding:0 .75rem; }
  th, td { padding:.45rem .4rem; }
}
/* campaign form, review queue, performance tab (console-form) */
.page-head { display:flex; justify-content:space-between; align-items:center; gap:1rem; flex-wrap:wrap; margin-bottom:1rem; }
.page-head h1 { margin:0; }
a.button { display:inline-block; text-decoration:none; }
.tabs { display:flex; gap:.25rem; border-bottom:1px solid var(--line); margin:0 0 1rem; flex-wrap:wrap; }
.tabs a { padding:.5rem .9rem; color:var(--muted); text-decoration:none; border-bottom:3px solid transparent; }
.tabs a[aria-current=page] { color:var(--ink); border-bottom-color:var(--accent); font-weight:600; }
.campaign-form { display:grid; grid-template-columns:repeat(auto-fit, minmax(min(100%, 28rem), 1fr)); gap:0 1.25rem; align-items:start; }
.campaign-form > .form-alert, .campaign-form > .actions { grid-column:1 / -1; }
.campaign-form fieldset { border:1px solid var(--line); }
.campaign-form legend { font-weight:700; padding:0 .35rem; }
.field { display:flex; flex-direction:column; gap:.25rem; margin:.6rem 0; }
.field label { font-weight:600; font-size:.9rem; }
.field.check label { font-weight:400; }
.field input:not([type=checkbox]), .field select, .field textarea, label.wide input, label.wide textarea { width:100%; }
textarea { font:inherit; padding:.4rem .5rem; border:1px solid #c9ced8; border-radius:6px; }
.help { color:var(--muted); font-size:.8rem; }
.row { display:flex; gap:.75rem; flex-wrap:wrap; }
.row > * { flex:1 1 9rem; }
.row label, label.wide { display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); gap:.2rem; margin:.3rem 0; }
.group { margin:.75rem 0; }
.group-label { font-weight:600; font-size:.9rem; margin:.2rem 0; }
[aria-invalid=true] { border-color:#b42318; box-shadow:0 0 0 1px #b42318; }
.field-error { color:#b42318; font-size:.85rem; margin:.15rem 0 0; font-weight:600; }
.form-alert { background:#fdecea; border:1px solid #f3b8b2; color:#7a1a12; border-radius:8px; padding:.5rem 1rem; margin-bottom:1rem; }
.sr-only { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); }
.badge.edited { background:#b7791f; }
.review-summary { display:flex; justify-content:space-between; align-items:center; gap:1rem; flex-wrap:wrap; }
.review-summary p { margin:0; }
td.message { white-space:pre-wrap; max-width:32rem; }
td.row-actions { white-space:nowrap; }
td.row-actions a { margin-left:.75rem; }
th.select-col, td.select-col { width:2.5rem; }
.form-alert a { color:inherit; font-weight:600; }
button[disabled] { opacity:.5; cursor:not-allowed; }
.stats { display:grid; grid-template-columns:repeat(auto-fit, minmax(10rem, 1fr)); gap:1rem; }
.stat { display:flex; flex-direction:column; }
.stat strong { font-size:1.5rem; }
.chart { width:100%; min-height:240px; }
.perf-grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(18rem, 1fr)); gap:1rem; }
.hbar { display:grid; grid-template-columns:7rem 1fr auto; gap:.6rem; align-items:center; margin:.45rem 0; }
.hbar-track { height:.8rem; background:var(--line); border-radius:999px; overflow:hidden; }
.hbar-fill { display:block; height:100%; }
.f-target { background:#9aa3b2; } .f-sent { background:#2f6fd6; } .f-delivered { background:#1f9d55; }
.f-replied { background:#7b3fc4; } .f-failed { background:#b42318; }
.hbar-value { font-size:.85rem; color:var(--muted); white-space:nowrap; }
@media (max-width: 700px) {
  .hbar { grid-template-columns:5.5rem 1fr; }
  .hbar-value { grid-column:2; }
}
/* Channels and plugins (console-admin) */
.title-row { display:flex; gap:1rem; align-items:center; justify-content:space-between; flex-wrap:wrap; }
.title-row h1, .title-row h2 { margin:0; }
.title-row + * { margin-top:1rem; }
.t-mms { background:#1d4ed8; }
.notice { background:#ecfdf3; border:1px solid #a6e3bf; color:#14532d; padding:.6rem .9rem; border-radius:6px; }
:is(.channel-form, form.upload) .field { display:flex; flex-direction:column; gap:.25rem; margin-bottom:1rem; max-width:36rem; }
:is(.channel-form, form.upload) .field label { font-weight:600; }
:is(.channel-form, form.upload) .field label.check { font-weight:400; display:flex; gap:.4rem; align-items:center; }
:is(.channel-form, form.upload) .field .help { margin:0; font-size:.85rem; color:var(--muted); }
:is(.channel-form, form.upload) .field .error { margin:0; font-size:.9rem; }
:is(.channel-form, form.upload) .field input[aria-invalid=true] { border-color:#b42318; }
.form-error { background:#fef3f2; border:1px solid #fecdca; padding:.6rem .9rem; border-radius:6px; }
fieldset { border:1px solid var(--line); border-radius:8px; padding:1rem 1.25rem .25rem; margin:0 0 1rem; }
legend { font-weight:600; padding:0 .4rem; }
details { margin-bottom:1rem; } summary { cursor:pointer; color:var(--accent); margin-bottom:.75rem; }
.secret { display:flex; gap:.5rem; align-items:center; } .secret input { flex:1; }
.s-set { background:#1f9d55; }
.masked { letter-spacing:.15em; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.35rem 1.25rem; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
ul.plugin-picker { list-style:none; padding:0; display:grid; grid-template-columns:repeat(auto-fill, minmax(16rem, 1fr)); gap:1rem; }
ul.plugin-picker h2 { font-size:1.05rem; margin:0 0 .4rem; }
.badge[class*="tpl-"] { background-color:#6b7280; } .badge.tpl-approved { background:#1f9d55; } .badge.tpl-pending { background:#b7791f; } .badge.tpl-rejected { background:#b42318; }
section.plugin table { margin-top:.5rem; } section.plugin .actions { margin:0; }
tr.active td { background:#f3fbf6; }
td.num { font-variant-numeric:tabular-nums; }
th[scope=row] { text-transform:none; letter-spacing:0; font-size:inherit; color:var(--ink); font-weight:600; }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
form.upload h2 { font-size:1.1rem; margin:0 0 .75rem; }
section.plugin, form.upload { overflow-x:auto; }
@media (max-width: 700px) {
  .title-row { align-items:flex-start; } dl.facts { grid-template-columns:1fr; }
  section.plugin, form.upload, .channel-form { padding:.75rem; }
  section.plugin th, section.plugin td { padding:.4rem .3rem; }
  section.plugin button { padding:.35rem .6rem; }
}
/* Audience and settings: forms, field errors, notices, steps, figures. */
h2 { font-size:1.1rem; margin:1.5rem 0 .75rem; }
h3 { font-size:1rem; margin:0 0 .5rem; }
a.button.secondary { background:#fff; color:var(--accent); }
.stack { display:flex; flex-direction:column; gap:.35rem; align-items:flex-start; }
.stack input[type=text], .stack input[type=url], .stack input[type=email], .stack input:not([type]) { width:100%; max-width:28rem; }
.stack label, .form-row label { font-weight:600; font-size:.9rem; margin-top:.5rem; }
.stack label.check { font-weight:400; display:flex; gap:.5rem; align-items:center; }
.form-row { display:flex; flex-direction:column; gap:.3rem; margin-top:.75rem; align-items:flex-start; }
.hint { color:var(--muted); font-size:.85rem; }
.field-error { margin:.1rem 0 .25rem; font-size:.9rem; font-weight:600; }
.field-error::before { content:"⚠ "; }
fieldset { border:1px solid var(--line); border-radius:6px; padding:.5rem .75rem; margin:.5rem 0; }
legend { font-weight:600; font-size:.9rem; }
.inline-fields { display:flex; gap:.5rem; align-items:center; flex-wrap:wrap; }
.notice { border-radius:8px; padding:.75rem 1rem; margin:0 0 1rem; background:#eef3ff; border:1px solid #c9d6fb; }
.notice-error { background:#fdf0ef; border-color:#f2c4bf; color:#8a1c12; }
.notice-ok { background:#edf8f1; border-color:#bfe5cc; color:#135c33; }
.notice code { word-break:break-all; font-size:1rem; }
.steps { display:flex; gap:1.25rem; list-style:none; padding:0; margin:0 0 1rem; color:var(--muted); flex-wrap:wrap; counter-reset:step; }
.steps li { counter-increment:step; }
.steps li::before { content:counter(step) ". "; }
.steps li[aria-current=step] { color:var(--ink); font-weight:700; }
.summary { display:flex; gap:1rem; flex-wrap:wrap; margin-bottom:.75rem; }
.stat { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.75rem 1.25rem; display:flex; flex-direction:column; min-width:10rem; }
.stat .figure { font-size:1.6rem; font-weight:700; }
.bar.wide { width:100%; max-width:32rem; height:.75rem; }
.split { display:grid; grid-template-columns:repeat(auto-fit, minmax(18rem, 1fr)); gap:1rem; }
.toc { display:flex; gap:1rem; margin-bottom:1rem; flex-wrap:wrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
button.link { background:none; border:none; color:var(--accent); padding:0; text-decoration:underline; }
button.link.danger-text { color:#b42318; }
#mapping select { margin-right:.25rem; }
.actions { align-items:center; }
table + .card, table + form.card, .empty + form.card, .pager + form.card { margin-top:1.5rem; }
.card h2:first-child, .card h3:first-child { margin-top:0; }
.stack p { margin:.5rem 0 0; }
@media (max-width: 700px) {
  .stat { min-width:0; flex:1; }
  .field-name { width:100%; margin-top:.25rem; }
}
"#;

/// A whole page for a signed-in user.
pub fn page(title: &str, signed: &Signed, body: Markup) -> Markup {
    let who = match &signed.who {
        Who::Tenant(t) => t.name.clone(),
        Who::Admin => "admin".to_owned(),
    };
    shell(
        title,
        html! {
            header {
                span.brand { "Herald" }
                nav aria-label="Main" {
                    @if signed.tenant().is_some() {
                        a href="/campaigns" { "Campaigns" }
                        a href="/channels" { "Channels" }
                        a href="/audience" { "Audience" }
                        a href="/settings" { "Settings" }
                    } @else {
                        a href="/plugins" { "Plugins" }
                    }
                }
                span.muted { "Signed in as " (who) }
                form.inline method="post" action="/logout" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button.secondary type="submit" { "Sign out" }
                }
            }
            main { (body) }
        },
    )
}

/// The document around any body (the sign-in page has no navigation).
pub fn shell(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Herald" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// A campaign type badge.
pub fn type_badge(kind: &str) -> Markup {
    let label = match kind {
        "whatsapp" => "WhatsApp",
        "sms" => "SMS",
        "mms" => "MMS",
        "voice" => "Voice",
        "email" => "Email",
        other => other,
    };
    html! { span class={ "badge t-" (kind) } { (label) } }
}

/// A campaign status badge.
pub fn status_badge(status: &str) -> Markup {
    let mut label = status.replace('_', " ");
    if let Some(first) = label.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    html! { span class={ "badge s-" (status) } data-status=(status) { (label) } }
}

/// Sent out of target as a bar, with the figures in text.
pub fn progress(done: i64, target: i64, percent: f64) -> Markup {
    let shown = percent.clamp(0.0, 100.0);
    html! {
        div role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(format!("{shown:.0}")) {
            div.bar { span style=(format!("width:{shown:.1}%")) {} }
            span.muted.progress-text { (done) " / " (target) " · " (format!("{shown:.0}")) "%" }
        }
    }
}
