//! `metricc schema`: the JSON Schema of a kind of project file, for
//! editors, generated from the key tables `check` reads files with.

use super::ExitStatus;
use crate::syntax::schema::{self, Document};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind of file: `project` (metricc.yaml), `definitions` (sources,
    /// entities, metrics) or `tests` (`*.test.yaml`).
    #[arg(value_enum)]
    pub file: Which,
    /// Write the schema to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Which {
    Project,
    Definitions,
    Tests,
}

pub fn schema(args: &Args) -> ExitStatus {
    let doc = match args.file {
        Which::Project => Document::Project,
        Which::Definitions => Document::Definitions,
        Which::Tests => Document::Tests,
    };
    let mut text = match serde_json::to_string_pretty(&schema::schema(doc)) {
        Ok(t) => t,
        Err(e) => return super::request::internal(format!("failed to write the schema: {e}")),
    };
    text.push('\n');
    match &args.output {
        None => super::output::print(text.as_bytes()),
        Some(path) => {
            if let Err(e) = super::output::write_output(path, text.as_bytes()) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitStatus::Usage;
            }
        }
    }
    ExitStatus::Ok
}
