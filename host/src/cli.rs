//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "herald",
    version,
    about = "Campaign server with sandboxed WebAssembly provider plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// The key that seals stored secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Seal every stored secret under a new key, while servers run: the new
    /// key goes first in the key file (sealing), the old ones stay (opening),
    /// and running servers read the file again when they meet the new key.
    Rotate(RotateArgs),
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[arg(long, env = "HERALD_DATABASE_URL", default_value = "sqlite:herald.db")]
    pub database_url: String,
    /// The servers' key file (see `serve --secrets-key-file`).
    #[arg(
        long,
        env = "HERALD_SECRETS_KEY_FILE",
        default_value = "herald-data/secrets.key"
    )]
    pub secrets_key_file: PathBuf,
    /// The new key (one base64 32-byte key); created with a random key if
    /// missing.
    #[arg(long)]
    pub new_key_file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Run a component against the provider simulator and print a
    /// pass/fail table (exit status 1 if any check fails).
    Check(CheckArgs),
    /// Create a ready-to-build plugin crate from the example.
    New(NewArgs),
    /// Make an Ed25519 key pair for signing plugins: NAME.key (the private
    /// key, PKCS#8 PEM, mode 0600) and NAME.pub (the public key as a line
    /// of a server's --trusted-keys file).
    Keygen(KeygenArgs),
    /// Sign a component's sha256 and manifest; writes FILE.wasm.sig.
    Sign(SignArgs),
    /// Compile a component for the server's engine and write its machine
    /// code (what the server runs to keep a compile's memory out of its
    /// own; not for direct use).
    #[command(hide = true)]
    Precompile(PrecompileArgs),
    /// Upload a component to a running server's registry, with its
    /// signature when FILE.wasm.sig exists (or --signature names one).
    Install {
        file: PathBuf,
        /// The signature file (default: FILE.wasm.sig if it exists).
        #[arg(long)]
        signature: Option<PathBuf>,
        /// Make it the active version at once.
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List installed plugins, versions and their statistics.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make an installed version the active one.
    Activate {
        name: String,
        sha256: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Return to the previously active version.
    Rollback {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop a plugin: its channels' campaigns pause until one is activated.
    Disable {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where the running server is, and the admin key.
#[derive(Args, Debug)]
pub struct ServerArgs {
    #[arg(long, env = "HERALD_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[arg(long, env = "HERALD_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: String,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The component to check (built for wasm32-wasip2).
    pub file: PathBuf,
    /// Non-secret config `KEY=VALUE`; `{sim}` stands for the simulator URL.
    /// Fields the simulator knows are filled in when omitted.
    #[arg(long = "config", value_parser = key_value)]
    pub config: Vec<(String, String)>,
    /// Secret config `KEY=VALUE`.
    #[arg(long = "secret", value_parser = key_value)]
    pub secrets: Vec<(String, String)>,
    /// Per-call deadline in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Plugin name, `[a-z0-9-]+`.
    pub name: String,
    /// Where to create the crate.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The key files' name, `[A-Za-z0-9._-]+`: NAME.key and NAME.pub.
    pub name: String,
    /// The publisher named in NAME.pub (default: NAME).
    #[arg(long)]
    pub publisher: Option<String>,
    /// Where to write the two files.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct PrecompileArgs {
    /// The server's per-instance memory cap in bytes.
    #[arg(long)]
    pub memory_bytes: usize,
    /// The server's instance pool size.
    #[arg(long)]
    pub max_instances: u32,
    /// Where to write the machine code (the component is read from stdin).
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The component to sign.
    pub file: PathBuf,
    /// The private key (PKCS#8 PEM: `herald plugin keygen`, or
    /// `openssl genpkey -algorithm ed25519`).
    #[arg(long, env = "HERALD_SIGNING_KEY")]
    pub key: PathBuf,
    /// Where to write the signature (default: FILE.sig, e.g. sms.wasm.sig).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// `sqlite:FILE` (created if missing) or `postgres://user@host/db`.
    #[arg(long, env = "HERALD_DATABASE_URL", default_value = "sqlite:herald.db")]
    pub database_url: String,

    /// Directory of provider plugin components (`*.wasm`) loaded at start.
    #[arg(long, env = "HERALD_PLUGINS_DIR", default_value = "target/plugins")]
    pub plugins_dir: PathBuf,

    /// Reload a plugin when its file in --plugins-dir changes (development).
    #[arg(long)]
    pub watch: bool,

    /// Where compiled plugin code is cached between restarts.
    #[arg(long, env = "HERALD_CACHE_DIR", default_value = ".herald-cache")]
    pub cache_dir: PathBuf,

    /// A plugin whose faults (trap, budgets, memory, unusable answers) are
    /// at least half of its calls within a minute, over at least this many
    /// calls, is quarantined until an admin activates a version.
    #[arg(long, env = "HERALD_QUARANTINE_AFTER", default_value_t = 20)]
    pub quarantine_after: u64,

    /// Base URL providers use to reach this server's webhooks
    /// (default: http://<listen address>).
    #[arg(long, env = "HERALD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Admin key for tenant management. Without it, one is generated at the
    /// first start and printed once.
    #[arg(long, env = "HERALD_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Also start the provider simulator on loopback, create a demo tenant
    /// with an SMS channel pointing at it, and print a curl walkthrough.
    #[arg(long)]
    pub demo: bool,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "HERALD_LOG_JSON")]
    pub log_json: bool,

    /// Wall-clock budget of one plugin call, in milliseconds.
    #[arg(long, env = "HERALD_PLUGIN_TIMEOUT_MS", default_value_t = 5000)]
    pub plugin_timeout_ms: u64,

    /// CPU budget of one plugin call, in milliseconds: the guest's own
    /// work (a spinning guest is stopped past it), not the time it waits
    /// for its provider, which `--plugin-timeout-ms` bounds.
    #[arg(long, env = "HERALD_PLUGIN_CPU_MS", default_value_t = 50)]
    pub plugin_cpu_ms: u64,

    /// Benchmarks only: run this bundled plugin's sends and webhooks as
    /// native code in the server instead of in the sandbox (only
    /// `twilio-sms` has a native twin), to measure what the sandbox costs.
    /// Native code has none of the sandbox's limits.
    #[arg(long = "native-provider", hide = true)]
    pub native_provider: Vec<String>,

    /// Profiling: write /tmp/perf-PID.map as plugins load, so `perf
    /// report` names the plugins' own functions
    /// (`wasm[0]::function[N]::name`) instead of anonymous addresses. The
    /// compiled code is the same; the map grows with every plugin version
    /// loaded.
    #[arg(long, env = "HERALD_WASM_PERF_MAP")]
    pub wasm_perf_map: bool,

    /// A non-public destination that requests on a tenant's behalf (plugin
    /// `http-send`, reply forwarding) may reach anyway: a CIDR
    /// (`10.1.0.0/16`), an address or a host name; repeat or separate with
    /// commas. Without it only public addresses are reached.
    #[arg(
        long = "allow-egress",
        env = "HERALD_ALLOW_EGRESS",
        value_delimiter = ','
    )]
    pub allow_egress: Vec<String>,

    /// Requests a second each API key (a tenant's, the admin's) may make
    /// after its burst; beyond, 429 with `Retry-After`. 0: no limit.
    #[arg(long, env = "HERALD_API_RATE_PER_SECOND", default_value_t = 100)]
    pub api_rate_per_second: u32,

    /// Requests an idle API key may make at once before its rate applies.
    #[arg(long, env = "HERALD_API_BURST", default_value_t = 300)]
    pub api_burst: u32,

    /// Refused webhooks a second one source address may cause after its
    /// burst (unknown channel, too large, signature or format refused,
    /// plugin fault); beyond, its webhooks get 429 with `Retry-After`.
    /// Valid webhooks are never counted. 0: no limit.
    #[arg(long, env = "HERALD_WEBHOOK_REFUSALS_PER_SECOND", default_value_t = 10)]
    pub webhook_refusals_per_second: u32,

    /// Refused webhooks a source may cause at once before its rate applies.
    #[arg(long, env = "HERALD_WEBHOOK_REFUSAL_BURST", default_value_t = 100)]
    pub webhook_refusal_burst: u32,

    /// Largest webhook body handed to a plugin, in KiB; larger ones get 413
    /// (plugins serving WhatsApp take Meta's 3 MB anyway).
    #[arg(long, env = "HERALD_WEBHOOK_MAX_BODY_KIB", default_value_t = 64)]
    pub webhook_max_body_kib: u64,

    /// Memory cap of one plugin instance, in MiB.
    #[arg(long, env = "HERALD_PLUGIN_MEMORY_MB", default_value_t = 16)]
    pub plugin_memory_mb: usize,

    /// Linear memory all plugin instances may hold together beyond their
    /// first 4 MiB each, in MiB: a call that would grow past it fails as
    /// out of memory.
    #[arg(long, env = "HERALD_PLUGIN_MEMORY_TOTAL_MB", default_value_t = 192)]
    pub plugin_memory_total_mb: usize,

    /// Seconds a claimed send stays leased; a send outliving its lease is
    /// marked `unknown` and never resent automatically.
    #[arg(long, env = "HERALD_LEASE_SECS", default_value_t = 300)]
    pub lease_secs: u64,

    /// Seconds to wait for a delivery receipt before asking the provider for
    /// the message's status (repeated every period while it stays unknown).
    #[arg(long, env = "HERALD_RECEIPT_CHECK_SECS", default_value_t = 600)]
    pub receipt_check_secs: u64,

    /// Seconds after an uncertain send (timeout, reset or 5xx after the
    /// request left, or a crash during the call) before Herald asks the
    /// provider whether it has the message; found, it counts as sent; not
    /// found, it is sent once more under the same idempotency key.
    #[arg(long, env = "HERALD_LOOKUP_AFTER_SECS", default_value_t = 5)]
    pub lookup_after_secs: u64,

    /// Consecutive provider errors (transient errors, 5xx, plugin faults) on
    /// one campaign's sends after which it pauses automatically.
    #[arg(long, env = "HERALD_MAX_PROVIDER_ERRORS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_provider_errors: u32,

    /// On SIGTERM or SIGINT: seconds the provider calls under way get to
    /// finish before the process exits (claims not yet called are handed
    /// back at once).
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// HTTP connections open at once (API, webhooks, console); more wait
    /// in the listen backlog. Lowered to fit the descriptor limit.
    #[arg(long, env = "HERALD_MAX_CONNECTIONS", default_value_t = 2048)]
    pub max_connections: usize,

    /// Seconds an HTTP connection may sit without a request (or take to
    /// send a request's headers) before it is closed.
    #[arg(long, env = "HERALD_IDLE_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,

    /// Sends in flight at once, from their claim until the provider has
    /// answered (a tenant sending alone holds up to three quarters). A real
    /// provider answers in tens to hundreds of milliseconds, so this bounds
    /// the rate: one tenant's 144 of the default 192 at 100 ms allow about
    /// 1,400 messages/s. Each send at the provider holds a plugin instance
    /// (the pool is sized from this) and about 0.16 MiB of memory. At
    /// most 4,096: the pool's address space for 16,384 could not be
    /// reserved on a 2-core, 24 GiB machine.
    #[arg(long, env = "HERALD_MAX_IN_FLIGHT", default_value_t = crate::engine::DEFAULT_MAX_IN_FLIGHT,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_in_flight: u32,

    /// Publisher keys trusted to sign plugins, one a line: `<base64 public
    /// key> <publisher>` (a `herald plugin keygen` NAME.pub line; `#`
    /// comments). More can be added through /v1/admin/trusted-keys.
    #[arg(long, env = "HERALD_TRUSTED_KEYS")]
    pub trusted_keys: Option<PathBuf>,

    /// Refuse plugin components that come without a signature by a
    /// trusted key (uploads, and files in --plugins-dir without a
    /// FILE.wasm.sig beside them). Signatures that come are checked either way.
    #[arg(long, env = "HERALD_REQUIRE_SIGNED")]
    pub require_signed: bool,

    /// Where uploads (CSV imports being processed) are kept.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "herald-data")]
    pub data_dir: PathBuf,

    /// The keys that seal channel and webhook secrets in the database (one
    /// base64 32-byte key per line; the first seals). Default:
    /// `secrets.key` in --data-dir, created (mode 0600) on first start.
    /// Every instance on one database needs the same file.
    #[arg(long, env = "HERALD_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    /// Largest CSV import accepted, in MiB.
    #[arg(long, env = "HERALD_IMPORT_MAX_MB", default_value_t = 50)]
    pub import_max_mb: u64,

    /// How plugin canaries are judged and promoted.
    #[command(flatten)]
    pub canary: CanaryArgs,

    /// TESTS ONLY: start the clock at this RFC 3339 instant and let the admin
    /// key set or advance it (`POST /v1/admin/clock`). Deliberately a flag
    /// with no environment variable, so no deployment turns it on by accident.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub test_clock: Option<jiff::Timestamp>,
}

/// Canary versions (`POST /v1/admin/plugins/{name}/canary`): each instance
/// compares a canary's sends with the active version's over a window and
/// rolls it back past these limits (defaults explained in
/// `plugins::CanaryPolicy`).
#[derive(Args, Debug, Clone)]
pub struct CanaryArgs {
    /// Seconds of sends a canary is judged over.
    #[arg(long, env = "HERALD_CANARY_WINDOW_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub canary_window_secs: u64,

    /// Canary sends within the window before it is judged.
    #[arg(long, env = "HERALD_CANARY_MIN_CALLS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub canary_min_calls: u64,

    /// Roll back a canary whose fault rate (traps, budgets, memory) is more
    /// than this many percentage points above the active version's.
    #[arg(long, env = "HERALD_CANARY_MAX_FAULT_INCREASE", default_value_t = 5.0,
          value_parser = parse_points)]
    pub canary_max_fault_increase: f64,

    /// Roll back a canary whose provider-error rate (transient errors, 5xx)
    /// is more than this many percentage points above the active version's.
    #[arg(
        long,
        env = "HERALD_CANARY_MAX_PROVIDER_ERROR_INCREASE",
        default_value_t = 10.0,
        value_parser = parse_points
    )]
    pub canary_max_provider_error_increase: f64,

    /// Roll back a canary whose p95 latency is more than this many times
    /// the active version's (and at least --canary-min-latency-increase-ms
    /// more).
    #[arg(long, env = "HERALD_CANARY_MAX_LATENCY_RATIO", default_value_t = 2.0,
          value_parser = parse_ratio)]
    pub canary_max_latency_ratio: f64,

    /// A slower canary is only rolled back when its p95 is at least this
    /// many milliseconds above the active version's.
    #[arg(
        long,
        env = "HERALD_CANARY_MIN_LATENCY_INCREASE_MS",
        default_value_t = 100
    )]
    pub canary_min_latency_increase_ms: u64,

    /// Promote a canary that stayed healthy (enough sends, within every
    /// limit) this long, e.g. `30m`, `2h`, `1h 30m`. Without it an admin
    /// promotes (`POST /v1/admin/plugins/{name}/canary/promote`).
    #[arg(long, env = "HERALD_AUTO_PROMOTE_AFTER", value_name = "DURATION",
          value_parser = parse_duration)]
    pub auto_promote_after: Option<std::time::Duration>,
}

impl CanaryArgs {
    pub fn policy(&self) -> crate::plugins::CanaryPolicy {
        crate::plugins::CanaryPolicy {
            window: std::time::Duration::from_secs(self.canary_window_secs),
            min_calls: self.canary_min_calls,
            max_fault_increase: self.canary_max_fault_increase / 100.0,
            max_provider_error_increase: self.canary_max_provider_error_increase / 100.0,
            max_latency_ratio: self.canary_max_latency_ratio,
            min_latency_increase: std::time::Duration::from_millis(
                self.canary_min_latency_increase_ms,
            ),
            auto_promote_after: self.auto_promote_after,
        }
    }
}

/// Percentage points, 0 to 100.
fn parse_points(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{s:?} must be percentage points from 0 to 100"))
}

/// A ratio of at least 1.
fn parse_ratio(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| *r >= 1.0 && r.is_finite())
        .ok_or_else(|| format!("{s:?} must be a ratio of at least 1, e.g. 2"))
}

/// A positive duration, friendly (`90s`, `30m`, `1h 30m`) or ISO 8601
/// (`PT30M`), read by jiff.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s.parse().map_err(|e| format!("{e}"))?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} must be a positive duration, e.g. 30m"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn max_in_flight(flags: &[&str]) -> Result<u32, String> {
        let args = ["herald", "serve"].iter().chain(flags);
        match Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Serve(serve) => Ok(serve.max_in_flight),
            other => panic!("not serve: {other:?}"),
        }
    }

    /// The default is the engine's, and a value the instance pool could
    /// not be reserved for (or no slot at all) is refused at the start with
    /// the flag named, not when the engine is created.
    #[test]
    fn max_in_flight_defaults_to_the_engines_and_refuses_what_cannot_run() {
        assert_eq!(max_in_flight(&[]), Ok(crate::engine::DEFAULT_MAX_IN_FLIGHT));
        assert_eq!(max_in_flight(&["--max-in-flight", "4096"]), Ok(4096));
        for bad in ["0", "16384", "many"] {
            let error = max_in_flight(&["--max-in-flight", bad]).unwrap_err();
            assert!(error.contains("--max-in-flight"), "{bad}: {error}");
        }
    }
}
