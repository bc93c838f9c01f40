//! The `metricc` binary: a dispatch table over the subcommands in `metricc::cli`.

use clap::Parser;
use metricc::cli::{
    Cli, Command, ExitStatus, check, completions, diff, explain, init, report, run, sample_data,
    schema, test,
};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Ok
            }
            .into();
        }
    };
    let result = std::panic::catch_unwind(|| match &cli.command {
        Command::Check(args) => check::check(args),
        Command::Run(args) => run::run(args),
        Command::Explain(args) => explain::explain(args),
        Command::SampleData(args) => sample_data::sample_data(args),
        Command::Test(args) => test::test(args),
        Command::Diff(args) => diff::diff(args),
        Command::Completions(args) => completions::completions(args),
        Command::Schema(args) => schema::schema(args),
        Command::Init(args) => init::init(args),
        Command::Report(args) => report::report(args),
        #[cfg(feature = "distributed")]
        Command::Scheduler(args) => metricc::cli::scheduler::scheduler(args),
        #[cfg(feature = "distributed")]
        Command::Executor(args) => metricc::cli::executor::executor(args),
    });
    // Spill files of a run that used a memory limit.
    metricc::spill::remove();
    match result {
        Ok(status) => status.into(),
        Err(_) => {
            eprintln!(
                "error: metricc hit an internal error (a bug); please report it with the input that caused it"
            );
            ExitStatus::Internal.into()
        }
    }
}
