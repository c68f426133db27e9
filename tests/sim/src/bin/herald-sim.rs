//! `herald-sim`: run the provider simulator on its own, e.g. to point a
//! hand-started `herald` at it. Stops on Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use herald_sim::{SimConfig, Simulator};

/// Provider simulator on 127.0.0.1: Twilio Messaging and Voice, WhatsApp Cloud
/// API, Infobip SMS, Mailgun, Vonage SMS (credentials: the `SimConfig` defaults).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on (keep it on loopback).
    #[arg(long, env = "HERALD_SIM_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// The Twilio account SID the simulator accepts.
    #[arg(
        long,
        env = "HERALD_SIM_ACCOUNT_SID",
        default_value = "AC00000000000000000000000000000001"
    )]
    account_sid: String,
    /// The Twilio auth token: Basic auth password and callback signing key.
    #[arg(long, env = "HERALD_SIM_AUTH_TOKEN", default_value = "sim-auth-token")]
    auth_token: String,
    /// Milliseconds between acceptance and `sent`, and between `sent` and the final status.
    #[arg(long, default_value_t = 20)]
    callback_delay_ms: u64,
    /// Artificial latency, in milliseconds, before answering a send.
    #[arg(long, default_value_t = 0)]
    response_delay_ms: u64,
    /// How long, in milliseconds, a send to a `...0504` number waits for its answer.
    #[arg(long, default_value_t = 10_000)]
    slow_answer_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "herald_sim=info".into()),
        )
        .init();
    let args = Args::parse();
    let sim = Simulator::start(SimConfig {
        listen: args.listen,
        twilio_account_sid: args.account_sid,
        twilio_auth_token: args.auth_token,
        callback_delay: Duration::from_millis(args.callback_delay_ms),
        response_delay: Duration::from_millis(args.response_delay_ms),
        slow_answer_delay: Duration::from_millis(args.slow_answer_delay_ms),
        ..SimConfig::default()
    })
    .await?;
    println!("herald-sim listening on {}", sim.base_url());
    println!(
        "  Twilio: POST {}/2010-04-01/Accounts/{}/Messages.json",
        sim.base_url(),
        sim.config().twilio_account_sid
    );
    println!(
        "  Twilio calls: POST {}/2010-04-01/Accounts/{{sid}}/Calls.json",
        sim.base_url()
    );
    println!(
        "  WhatsApp: POST {}/v21.0/{{phone-number-id}}/messages",
        sim.base_url()
    );
    println!("  Infobip:  POST {}/sms/2/text/advanced", sim.base_url());
    println!(
        "  Mailgun:  POST {}/v3/{}/messages",
        sim.base_url(),
        sim.config().mailgun_domain
    );
    println!("  Vonage:   POST {}/sms/json", sim.base_url());
    println!(
        "  webhooks: POST {}/_sim/webhooks {{\"provider\",\"url\"}}",
        sim.base_url()
    );
    println!("  stats:  GET  {}/_sim/stats", sim.base_url());
    tokio::signal::ctrl_c().await?;
    let stats = sim.stats();
    sim.shutdown().await;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
