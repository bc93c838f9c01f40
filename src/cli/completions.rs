//! `metricc completions`: the shell completion script for `metricc`, made by
//! clap_complete from the same argument definitions the parser uses.

use super::{Cli, ExitStatus};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete in. Install, e.g. for bash:
    /// `metricc completions bash > ~/.local/share/bash-completion/completions/metricc`;
    /// zsh: into a directory of your `fpath` as `_metricc`; fish:
    /// `~/.config/fish/completions/metricc.fish`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn completions(args: &Args) -> ExitStatus {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "metricc", &mut script);
    super::output::print(&script);
    ExitStatus::Ok
}
