use clap::Parser;
use herald::cli::{Cli, Command, PluginCommand, SecretsCommand};
use herald::kit;

/// See the `mimalloc` entry in Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits its arenas eagerly on Linux, where overcommit makes it
/// cheap; with transparent huge pages on, every arena touched then counts
/// whole in RSS (~50 MiB more for the same work, measured by the dispatch
/// benchmark); committing page by page costs no measurable throughput. The
/// option must be set before the first Rust allocation reserves the first
/// arena, so before `main`: a constructor run by the loader.
#[used]
#[unsafe(link_section = ".init_array")]
static COMMIT_MEMORY_LAZILY: extern "C" fn() = {
    extern "C" fn commit_memory_lazily() {
        // `mi_option_arena_eager_commit` in mimalloc.h's option enum (v3).
        const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
        // SAFETY: sets a plain option value, allocating nothing.
        unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
    }
    commit_memory_lazily
};

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
        Command::Plugin(PluginCommand::Precompile(args)) => {
            herald::plugins::precompile_in_this_process(
                args.memory_bytes,
                args.max_instances,
                &args.out,
            )
        }
        Command::Plugin(PluginCommand::Keygen(args)) => {
            let publisher = args.publisher.as_deref();
            print!("{}", kit::sign::keygen(&args.name, publisher, &args.dir)?);
            Ok(())
        }
        Command::Plugin(PluginCommand::Sign(args)) => {
            let out = args.out.as_deref();
            print!("{}", kit::sign::sign(&args.file, &args.key, out).await?);
            Ok(())
        }
        Command::Secrets(SecretsCommand::Rotate(args)) => {
            herald::telemetry::init(false);
            let keys =
                herald::sealing::put_new_key_first(&args.secrets_key_file, &args.new_key_file)?;
            let sealing = keys.sealing_key_id();
            let store = herald::store::Store::connect_sealed(&args.database_url, keys).await?;
            let counts = store.reseal_secrets().await?;
            println!(
                "sealed {} secrets under key {sealing} ({} already were); {} now seals, and \
                 keeps the old keys for opening until you remove their lines",
                counts.resealed + counts.sealed_from_clear,
                counts.unchanged,
                args.secrets_key_file.display()
            );
            Ok(())
        }
        Command::Plugin(admin) => {
            print!("{}", kit::admin::run(admin).await?);
            Ok(())
        }
    }
}
