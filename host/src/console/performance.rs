//! A campaign's performance tab (seed 004's "Performance & Reports"):
//! sends and deliveries over time (uPlot charts, per minute and
//! cumulative, in the tenant's timezone), the delivery funnel and the
//! response rate by channel (plain HTML bars, readable without script).
//! Figures come from the store (`activity_by_minute`, `progress`,
//! `progress_by_channel`); uPlot is vendored and served from the binary.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use serde::Serialize;

use super::layout::{page, status_badge, type_badge};
use super::session::Signed;
use crate::api::{ApiError, AppState};
use crate::store::{Campaign, Id, MinuteActivity, StoreError};

pub const UPLOT_JS_PATH: &str = "/assets/uplot-1.6.32.min.js";
pub const UPLOT_CSS_PATH: &str = "/assets/uplot-1.6.32.min.css";
/// uPlot 1.6.32 (MIT, Leon Sorokin; licence beside it in assets/), as
/// published on npm: nothing is fetched at run time.
const UPLOT_JS: &str = include_str!("assets/uplot-1.6.32.min.js");
const UPLOT_CSS: &str = include_str!("assets/uplot-1.6.32.min.css");
/// The file names carry the version, so browsers may keep them for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn uplot_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        UPLOT_JS,
    )
        .into_response()
}

pub async fn uplot_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        UPLOT_CSS,
    )
        .into_response()
}

/// The links between a campaign's pages.
pub(super) fn tabs(c: &Campaign, current: &str) -> Markup {
    let id = c.id;
    let links = [
        ("members", format!("/campaigns/{id}"), "Members", true),
        (
            "review",
            format!("/campaigns/{id}/review"),
            "Review queue",
            c.manual_review || current == "review",
        ),
        (
            "performance",
            format!("/campaigns/{id}/performance"),
            "Performance",
            true,
        ),
        (
            "edit",
            format!("/campaigns/{id}/edit"),
            "Edit",
            c.status.as_str() == "draft",
        ),
    ];
    html! {
        nav.tabs aria-label="Campaign views" {
            @for (key, href, label, shown) in links {
                @if shown {
                    a href=(href) id={ "tab-" (key) } aria-current=[(key == current).then_some("page")] { (label) }
                }
            }
        }
    }
}

/// The charts' data, as uPlot takes it: x in Unix seconds, one array per
/// series, every minute from the first to the last (gaps are zeros).
#[derive(Serialize, Default)]
struct ChartData {
    t: Vec<i64>,
    sent: Vec<i64>,
    delivered: Vec<i64>,
    failed: Vec<i64>,
    replied: Vec<i64>,
    /// The tenant's timezone, for the axis labels.
    tz: String,
}

/// Minutes filled in between activity at most this far apart (a day);
/// beyond, the points stand alone rather than making a huge series.
const MAX_FILLED_MINUTES: i64 = 1440;

impl ChartData {
    fn from_minutes(minutes: &[MinuteActivity], tz: &str) -> Self {
        let mut d = Self {
            tz: tz.to_owned(),
            ..Self::default()
        };
        let (Some(first), Some(last)) = (minutes.first(), minutes.last()) else {
            return d;
        };
        let fill = (last.minute_ms - first.minute_ms) / 60_000 <= MAX_FILLED_MINUTES;
        let mut push = |at: i64, m: Option<&MinuteActivity>| {
            d.t.push(at / 1000);
            d.sent.push(m.map_or(0, |m| m.sent));
            d.delivered.push(m.map_or(0, |m| m.delivered));
            d.failed.push(m.map_or(0, |m| m.failed));
            d.replied.push(m.map_or(0, |m| m.replied));
        };
        // A quiet minute before the first: the lines rise from zero.
        push(first.minute_ms - 60_000, None);
        let mut expected = first.minute_ms;
        for m in minutes {
            while fill && expected < m.minute_ms {
                push(expected, None);
                expected += 60_000;
            }
            push(m.minute_ms, Some(m));
            expected = m.minute_ms + 60_000;
        }
        push(expected, None);
        d
    }
}

/// One bar of a bar list: label, count, and its share of `of`.
fn bar(label: &str, count: i64, of: i64, class: &str) -> Markup {
    let percent = if of > 0 {
        count as f64 * 100.0 / of as f64
    } else {
        0.0
    };
    html! {
        div.hbar data-step=(label) {
            span.hbar-label { (label) }
            span.hbar-track { span class={ "hbar-fill " (class) } style=(format!("width:{:.1}%", percent.clamp(0.0, 100.0))) {} }
            span.hbar-value { (count) " · " (format!("{percent:.0}")) "%" }
        }
    }
}

pub async fn show(State(state): State<AppState>, signed: Signed, Path(id): Path<Id>) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let loaded = async {
        let campaign = state.store.campaign(tenant.id, id).await?;
        let progress = state.store.progress(tenant.id, id).await?;
        let by_channel = state.store.progress_by_channel(tenant.id, id).await?;
        let channels = state.store.list_channels(tenant.id).await?;
        let minutes = state.store.activity_by_minute(tenant.id, id).await?;
        Ok::<_, StoreError>((campaign, progress, by_channel, channels, minutes))
    };
    let (campaign, p, by_channel, channels, minutes) = match loaded.await {
        Ok(l) => l,
        Err(StoreError::NotFound) => return super::not_found(&signed),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let chart = ChartData::from_minutes(&minutes, &tenant.timezone);
    let data = serde_json::to_string(&chart)
        .expect("chart data serialises")
        // Inside a <script> element: no "</" may end it early.
        .replace("</", "<\\/");
    let channel_name = |cid: Id| {
        channels
            .iter()
            .find(|c| c.id == cid)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("Channel {cid}"))
    };
    let body = html! {
        link rel="stylesheet" href=(UPLOT_CSS_PATH);
        p { a href="/campaigns" { "← Campaigns" } }
        h1 { (campaign.name) " " (type_badge(campaign.kind.as_str())) " " (status_badge(campaign.status.as_str())) }
        (tabs(&campaign, "performance"))
        div.stats {
            div.card.stat { span.muted { "Targeted" } strong { (p.target) } }
            div.card.stat { span.muted { "Sent" } strong #stat-sent { (p.sent) } }
            div.card.stat { span.muted { "Delivered" } strong #stat-delivered { (p.delivered) } }
            div.card.stat { span.muted { "Response rate" } strong { (format!("{:.1}", p.response_rate)) "%" } }
        }
        section.card aria-labelledby="activity-heading" {
            h2 #activity-heading { "Sends and deliveries over time" }
            @if chart.t.is_empty() {
                div.empty { p { "Nothing sent yet. The charts fill in, minute by minute, once the campaign goes live." } }
            } @else {
                p.muted { "Per minute, in " (tenant.timezone) "." }
                div #activity-chart .chart role="img" aria-label="Sent, delivered, failed and replied per minute" {}
                h3 { "Cumulative" }
                div #cumulative-chart .chart role="img" aria-label="Sent and delivered so far" {}
            }
        }
        div.perf-grid {
            section.card #funnel aria-labelledby="funnel-heading" {
                h2 #funnel-heading { "Delivery funnel" }
                (bar("Targeted", p.target, p.target, "f-target"))
                (bar("Sent", p.sent, p.target, "f-sent"))
                (bar("Delivered", p.delivered, p.target, "f-delivered"))
                (bar("Replied", p.replied, p.target, "f-replied"))
                (bar("Failed", p.failed, p.target, "f-failed"))
            }
            section.card #by-channel aria-labelledby="channel-heading" {
                h2 #channel-heading { "Response rate by channel" }
                @if by_channel.is_empty() {
                    p.muted { "No outreach yet." }
                } @else {
                    @for c in &by_channel {
                        div.hbar data-channel=(c.channel_id) {
                            span.hbar-label { (channel_name(c.channel_id)) }
                            span.hbar-track { span.hbar-fill.f-replied style=(format!("width:{:.1}%", c.response_rate.clamp(0.0, 100.0))) {} }
                            span.hbar-value { (format!("{:.1}", c.response_rate)) "% · " (c.replied) " of " (c.delivered) " delivered" }
                        }
                    }
                }
            }
        }
        @if !chart.t.is_empty() {
            script #perf-data type="application/json" { (PreEscaped(data)) }
            script src=(UPLOT_JS_PATH) {}
            (chart_script())
        }
    };
    Html(page(&format!("Performance · {}", campaign.name), &signed, body).into_string())
        .into_response()
}

/// Draws the two charts from `#perf-data`, sized to their box.
fn chart_script() -> Markup {
    html! {
        script {
            (PreEscaped(r#"
(function () {
  var d = JSON.parse(document.getElementById('perf-data').textContent);
  function tz(ts) { try { return uPlot.tzDate(new Date(ts * 1e3), d.tz); } catch (e) { return new Date(ts * 1e3); } }
  function sum(a) { var s = 0; return a.map(function (v) { s += v; return s; }); }
  function draw(id, series, data) {
    var el = document.getElementById(id);
    var width = function () { return Math.max(260, el.clientWidth); };
    var plot = new uPlot({
      width: width(), height: 240, tzDate: tz,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, { size: 48 }],
    }, [d.t].concat(data), el);
    window.addEventListener('resize', function () { plot.setSize({ width: width(), height: 240 }); });
  }
  // Dashed lines stay visible where they run on top of another one
  // (delivered often equals sent).
  function line(label, stroke, dash) {
    return { label: label, stroke: stroke, width: 2, dash: dash, points: { show: true } };
  }
  var sent = line('Sent', '#2f6fd6'), delivered = line('Delivered', '#1f9d55', [8, 5]);
  draw('activity-chart',
    [sent, delivered, line('Failed', '#b42318', [2, 4]), line('Replied', '#7b3fc4', [4, 4])],
    [d.sent, d.delivered, d.failed, d.replied]);
  draw('cumulative-chart',
    [line('Sent', '#2f6fd6'), line('Delivered', '#1f9d55', [8, 5])],
    [sum(d.sent), sum(d.delivered)]);
})();
"#))
        }
    }
}
