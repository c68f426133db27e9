//! Uploading a plugin version from the console: a multipart form whose
//! file is read chunk by chunk up to the API's size limit (refused at the
//! first byte too many, never buffered past it), then installed through the
//! admin API's own function, so a refusal (wrong world, bad version, not a
//! component...) says exactly what the API would, next to the file input;
//! a signature file may come with it (its refusal shown next to its input).

use axum::Router;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use maud::{Markup, html};

use super::audit_trail;
use super::forms::{Problem, problem};
use super::plugins::{At, admin_only, render};
use super::session::Signed;
use crate::api::AppState;
use crate::api::MAX_PLUGIN_BYTES;
use crate::api::admin_plugins::{install_version, parse_signature};

/// Room for the form's other parts and its boundaries around the file.
const FORM_OVERHEAD: usize = 64 << 10;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/plugins/upload",
        post(upload).layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES + FORM_OVERHEAD)),
    )
}

/// The upload form, with a refusal under the input it is about.
pub(super) fn form(csrf: &str, problem: Option<&Problem>, require_signed: bool) -> Markup {
    let help = format!(
        "A provider component (.wasm) built for wasm32-wasip2, at most {} MiB.",
        MAX_PLUGIN_BYTES >> 20
    );
    let (signature_problem, problem) = match problem {
        Some(p) if p.names("signature") => (Some(p), None),
        other => (None, other),
    };
    let signature_help = if require_signed {
        "The signature `herald plugin sign` wrote (FILE.wasm.sig). This server installs signed components only."
    } else {
        "Optional: the signature `herald plugin sign` wrote (FILE.wasm.sig). Without it the version is installed unsigned."
    };
    html! {
        form.card.upload method="post" action="/plugins/upload" enctype="multipart/form-data" {
            h2 { "Upload a version" }
            input type="hidden" name="csrf" value=(csrf);
            div.field {
                label for="f-file" { "Component file" }
                input #f-file type="file" name="file" accept=".wasm,application/wasm" required
                    aria-invalid=[problem.map(|_| "true")]
                    aria-describedby=(if problem.is_some() { "f-file-help f-file-error" } else { "f-file-help" });
                p.help #f-file-help { (help) }
                @if let Some(p) = problem {
                    p.error #f-file-error role="alert" { "Refused: " (p.message) }
                }
            }
            div.field {
                label for="f-signature" { "Signature file" }
                input #f-signature type="file" name="signature" accept=".sig,application/json"
                    required[require_signed]
                    aria-invalid=[signature_problem.map(|_| "true")]
                    aria-describedby=(if signature_problem.is_some() { "f-signature-help f-signature-error" } else { "f-signature-help" });
                p.help #f-signature-help { (signature_help) }
                @if let Some(p) = signature_problem {
                    p.error #f-signature-error role="alert" { "Refused: " (p.message) }
                }
            }
            div.field {
                label.check { input type="checkbox" name="activate" value="true"; " Activate it at once" }
            }
            p { button type="submit" { "Upload" } }
        }
    }
}

fn too_big() -> Problem {
    Problem {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..Problem::field(
            "file",
            format!(
                "the file is larger than the {} MiB a plugin may be",
                MAX_PLUGIN_BYTES >> 20
            ),
        )
    }
}

fn unreadable(e: MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_big();
    }
    Problem {
        status: StatusCode::BAD_REQUEST,
        ..Problem::field(
            "file",
            format!("the upload could not be read: {}", e.body_text()),
        )
    }
}

/// What the form carried.
#[derive(Default)]
struct Posted {
    csrf: String,
    activate: bool,
    file: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
}

/// A signature file is a few hundred bytes; more is not one.
const MAX_SIGNATURE_BYTES: usize = 16 << 10;

async fn read(mut form: Multipart) -> Result<Posted, Problem> {
    let mut posted = Posted::default();
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("csrf") => posted.csrf = field.text().await.map_err(unreadable)?,
            Some("activate") => posted.activate = field.text().await.map_err(unreadable)? == "true",
            Some("file") => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    if bytes.len() + chunk.len() > MAX_PLUGIN_BYTES {
                        return Err(too_big());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                posted.file = Some(bytes);
            }
            Some("signature") => {
                let bytes = field.bytes().await.map_err(unreadable)?;
                if bytes.len() > MAX_SIGNATURE_BYTES {
                    return Err(Problem::field(
                        "signature",
                        "this is not a signature file: it is larger than 16 KiB",
                    ));
                }
                posted.signature = Some(bytes.to_vec());
            }
            _ => {}
        }
    }
    Ok(posted)
}

pub async fn upload(State(state): State<AppState>, signed: Signed, form: Multipart) -> Response {
    if let Err(r) = admin_only(&signed) {
        return *r;
    }
    let posted = match read(form).await {
        Ok(p) => p,
        // A form cut short may have lost its token too: refused either way.
        Err(p) => return render(&state, &signed, None, Some((&p, At::Upload))).await,
    };
    if !signed.csrf_ok(&posted.csrf) {
        return super::forbidden();
    }
    let Some(file) = posted.file.filter(|f| !f.is_empty()) else {
        let p = Problem::field("file", "choose a component file to upload");
        return render(&state, &signed, None, Some((&p, At::Upload))).await;
    };
    // A file input left empty still sends an empty part.
    let signature = match posted
        .signature
        .filter(|s| !s.is_empty())
        .map(|s| parse_signature(&s))
    {
        None => None,
        Some(Ok(parsed)) => Some(parsed),
        Some(Err(e)) => return refused(&state, &signed, e).await,
    };
    match install_version(&state, file, signature, posted.activate).await {
        Ok(v) => {
            let target = format!("/plugins/{} {}", v.name, v.sha256);
            audit_trail::record(&state, &signed, "POST /plugins/upload", &target).await;
            let done = if v.active {
                "installed_active"
            } else {
                "installed"
            };
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("done", done)
                .append_pair("name", &format!("{} {}", v.name, v.version))
                .finish();
            Redirect::to(&format!("/plugins?{q}#plugin-{}", v.name)).into_response()
        }
        Err(e) => refused(&state, &signed, e).await,
    }
}

/// The page with the API's refusal beside the input it names.
async fn refused(state: &AppState, signed: &Signed, e: crate::api::ApiError) -> Response {
    match problem(e) {
        Ok(p) => render(state, signed, None, Some((&p, At::Upload))).await,
        Err(e) => e.into_response(),
    }
}
