use clap::Parser;
use herald::cli::{Cli, Command, PluginCommand};
use herald::kit;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            herald::telemetry::init(args.log_json);
            herald::server::serve(*args).await
        }
        Command::Plugin(PluginCommand::New(args)) => {
            let root = kit::new::create(&args.name, &args.dir)?;
            println!("created {}; build it with:", root.display());
            println!(
                "  cd {} && cargo build --release --target wasm32-wasip2",
                root.display()
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Check(args)) => {
            let rows = kit::check::run(
                &args.file,
                kit::check::Options {
                    config: args.config,
                    secrets: args.secrets,
                    timeout: std::time::Duration::from_millis(args.timeout_ms),
                },
            )
            .await?;
            print!("{}", kit::check::table(&rows));
            if rows.iter().any(|r| !r.passed) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Plugin(admin) => {
            print!("{}", kit::admin::run(admin).await?);
            Ok(())
        }
    }
}
