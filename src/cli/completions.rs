//! `flakehunt completions SHELL`: a completion script generated from the same clap definitions
//! the parser uses, so it can never offer an option that does not exist.

use anyhow::Result;
use clap::{Args, Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::{print_stdout, Cli, EXIT_OK, VERSION};

/// Arguments of `flakehunt completions`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Install, e.g.:\n  \
    bash:  flakehunt completions bash > ~/.local/share/bash-completion/completions/flakehunt\n  \
    zsh:   flakehunt completions zsh > ~/.zfunc/_flakehunt   (with ~/.zfunc in $fpath)\n  \
    fish:  flakehunt completions fish > ~/.config/fish/completions/flakehunt.fish\n  \
    powershell:  flakehunt completions powershell | Out-String | Invoke-Expression\n  \
    elvish:  flakehunt completions elvish > ~/.config/elvish/lib/flakehunt.elv")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: Shell,
}

/// The command line as users see it: [`Cli`] without its hidden internal subcommands, which
/// clap_complete would otherwise offer.
pub fn public_command() -> Command {
    let full = Cli::command();
    let mut public = Command::new("flakehunt")
        .version(VERSION)
        .args(full.get_arguments().cloned())
        .subcommands(
            full.get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .cloned(),
        )
        .propagate_version(true)
        .arg_required_else_help(true);
    if let Some(about) = full.get_about() {
        public = public.about(about.clone());
    }
    if let Some(after) = full.get_after_long_help() {
        public = public.after_long_help(after.clone());
    }
    public
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut command = public_command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "flakehunt", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// `flakehunt completions`.
pub fn execute(args: &CompletionsArgs) -> Result<i32> {
    print_stdout(&script(args.shell))?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visible subcommand is offered; the internal ones are not.
    #[test]
    fn scripts_offer_the_public_subcommands_only() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = script(shell);
            for name in [
                "run",
                "verify",
                "compare",
                "ingest",
                "completions",
                "manpage",
            ] {
                assert!(script.contains(name), "{shell}: no {name}");
            }
            assert!(
                !script.contains("__guard"),
                "{shell} offers an internal command"
            );
        }
    }
}
