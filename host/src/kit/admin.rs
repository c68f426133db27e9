//! `herald plugin install|list|activate|rollback|disable`: the registry's
//! admin API from the command line, for a running server.

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::Value;

use crate::cli::{PluginCommand, ServerArgs};

/// Runs one admin subcommand; returns what to print.
pub async fn run(command: PluginCommand) -> anyhow::Result<String> {
    let client = |s: &ServerArgs| AdminClient::new(&s.server, &s.admin_key);
    Ok(match command {
        PluginCommand::Install {
            file,
            signature,
            activate,
            server,
        } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let signature = read_signature(&file, signature.as_deref())?;
            client(&server).install(wasm, signature, activate).await? + "\n"
        }
        PluginCommand::List { server } => client(&server).list().await?,
        PluginCommand::Activate {
            name,
            sha256,
            server,
        } => {
            client(&server)
                .act(&name, "activate", Some(&sha256))
                .await?
                + "\n"
        }
        PluginCommand::Rollback { name, server } => {
            client(&server).act(&name, "rollback", None).await? + "\n"
        }
        PluginCommand::Disable { name, server } => {
            client(&server).act(&name, "disable", None).await? + "\n"
        }
        PluginCommand::New(_)
        | PluginCommand::Check(_)
        | PluginCommand::Keygen(_)
        | PluginCommand::Sign(_)
        | PluginCommand::Precompile(_) => bail!("not an admin command"),
    })
}

/// The signature to send with `wasm_path`: the one named, else
/// `FILE.wasm.sig` if it exists.
fn read_signature(
    wasm_path: &std::path::Path,
    named: Option<&std::path::Path>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let path = match named {
        Some(p) => p.to_path_buf(),
        None => {
            let beside = crate::plugins::signing::signature_path(wasm_path);
            if !beside.exists() {
                return Ok(None);
            }
            beside
        }
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(bytes))
}

pub struct AdminClient {
    server: String,
    key: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(server: &str, key: &str) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; an error answer becomes an error carrying its message.
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.server))?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or(&text);
            bail!("{status}: {message}");
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Uploads a component, with its signature file (JSON bytes) if given.
    pub async fn install(
        &self,
        wasm: Vec<u8>,
        signature: Option<Vec<u8>>,
        activate: bool,
    ) -> anyhow::Result<String> {
        let url = self.url(&format!("/v1/admin/plugins?activate={activate}"));
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/wasm")
            .body(wasm);
        if let Some(signature) = signature {
            let header = base64::engine::general_purpose::STANDARD.encode(signature);
            request = request.header(crate::api::SIGNATURE_HEADER, header);
        }
        let v = self.call(request).await?;
        let signed = match v["signed_by"]["publisher"].as_str() {
            Some(publisher) => format!("signed by {publisher}"),
            None => "unsigned".to_owned(),
        };
        Ok(format!(
            "installed {} {} ({}), {signed}{}",
            v["name"].as_str().unwrap_or("?"),
            v["version"].as_str().unwrap_or("?"),
            v["sha256"].as_str().unwrap_or("?"),
            if v["active"] == true { ", active" } else { "" }
        ))
    }

    pub async fn list(&self) -> anyhow::Result<String> {
        // Every page of the list.
        let mut plugins = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .call(
                    self.http
                        .get(self.url(&format!("/v1/admin/plugins?cursor={cursor}"))),
                )
                .await?;
            plugins.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => {
                    cursor = url::form_urlencoded::byte_serialize(next.as_bytes()).collect()
                }
                None => break,
            }
        }
        let mut out = String::from(
            "PLUGIN              VERSION   SHA256        ACTIVE  CALLS    FAULTS  SIGNED BY            CHANNELS\n",
        );
        for p in &plugins {
            let active = p["active_sha256"].as_str().unwrap_or("");
            for v in p["versions"].as_array().into_iter().flatten() {
                let sha = v["sha256"].as_str().unwrap_or("");
                let mark = if sha == active { "*" } else { "" };
                let signed = v["signed_by"]["publisher"].as_str().unwrap_or("unsigned");
                out.push_str(&format!(
                    "{:<19} {:<9} {:<13} {:<7} {:<8} {:<7} {:<20} {}\n",
                    p["name"].as_str().unwrap_or("?"),
                    v["version"].as_str().unwrap_or("?"),
                    &sha[..sha.len().min(12)],
                    mark,
                    v["stats"]["calls"].as_u64().unwrap_or(0),
                    v["stats"]["faults"].as_u64().unwrap_or(0),
                    signed,
                    p["channel_ids"],
                ));
            }
            if let Some(reason) = p["quarantine_reason"].as_str() {
                out.push_str(&format!("  quarantined: {reason}\n"));
            }
        }
        Ok(out)
    }

    /// `action` is `activate` (with a sha256), `rollback` or `disable`.
    pub async fn act(
        &self,
        name: &str,
        action: &str,
        sha256: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut request = self
            .http
            .post(self.url(&format!("/v1/admin/plugins/{name}/{action}")));
        if let Some(sha) = sha256 {
            request = request.json(&serde_json::json!({ "sha256": sha }));
        }
        self.call(request).await?;
        Ok(format!("{name}: {action} done"))
    }
}
