//! The flakehunt binary: parse the command line, dispatch, map errors to exit statuses.

use clap::{CommandFactory, FromArgMatches};
use flakehunt::cli::{self, Cli, RuntimeError, EXIT_RUNTIME, EXIT_USAGE};

fn main() {
    let mut command = Cli::command();
    if let Some(choice) = cli::color_of_args(std::env::args_os()) {
        command = command.color(choice);
    }
    let matches = command.get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let status = match cli::dispatch(cli, &matches) {
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
