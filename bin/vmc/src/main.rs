//! `vmc`: the Cloud Foundry v1 command-line client for cfsim. Parses the command line, runs
//! the command against the saved target, prints an error as one line and exits non-zero.

use clap::Parser;
use vmc::cli::Cli;
use vmc::config::ConfigStore;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let result = runtime.block_on(async {
        let store = ConfigStore::default_location()?;
        vmc::commands::run(cli.command, &store).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            vmc::push::end_open_line();
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
