use clap::Parser;
use herald::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            herald::telemetry::init(args.log_json);
            herald::server::serve(args).await
        }
    }
}
