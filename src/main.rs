//! The flakehunt binary: parse the command line, dispatch, map errors to exit statuses.

use clap::Parser;
use flakehunt::cli::{self, Cli, RuntimeError, EXIT_RUNTIME, EXIT_USAGE};

fn main() {
    let cli = Cli::parse();
    let status = match cli::dispatch(cli) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("flakehunt: error: {error:#}");
            if error.downcast_ref::<RuntimeError>().is_some() {
                EXIT_RUNTIME
            } else {
                EXIT_USAGE
            }
        }
    };
    std::process::exit(status);
}
