//! execute: errors met while reading or computing data, as diagnostics.

use crate::diagnostics::{Code, Diagnostic};
use datafusion::error::DataFusionError;

/// A diagnostic for an error met while reading or computing data.
pub fn data_error(source: Option<&str>, e: DataFusionError) -> Diagnostic {
    let root = e.find_root();
    let exhausted = matches!(root, DataFusionError::ResourcesExhausted(_));
    let e = root.to_string();
    if exhausted {
        return Diagnostic::new(
            Code::MemoryExhausted,
            "the run needs more memory than allowed",
        )
        .with_help(format!(
            "{e}; raise `--memory-limit`, or narrow the range or breakdown"
        ));
    }
    let what = match source {
        Some(s) => format!("cannot read the data of source `{s}`"),
        None => "cannot read or compute the data".to_string(),
    };
    Diagnostic::new(Code::DataUnreadable, what).with_help(format!(
        "{e}; check that the source's Parquet files are complete and unchanged since `metricc check` (regenerate or remove a damaged file)"
    ))
}
