//! execute: errors met while reading or computing data, as diagnostics.

use crate::diagnostics::{Code, Diagnostic};
use datafusion::error::DataFusionError;

/// Why a run failed, from DataFusion's error: a computation that overflowed
/// or left the calendar, a pattern too large, or else the data (when
/// `files`, the files the query reads, has one that cannot be read to its
/// end, it is named).
pub fn run_error(e: DataFusionError, files: &[std::path::PathBuf]) -> Diagnostic {
    let root = e.find_root();
    let text = root.to_string();
    let lower = text.to_lowercase();
    let computed = |what: &str, help: &str| {
        Diagnostic::new(
            Code::DataUnreadable,
            format!("cannot compute the metrics: {what}"),
        )
        .with_help(format!("{text}; {help}"))
    };
    if matches!(root, DataFusionError::ResourcesExhausted(_)) {
        return data_error(None, e);
    }
    if matches!(
        root,
        DataFusionError::ArrowError(ae, _)
            if matches!(**ae, datafusion::arrow::error::ArrowError::ArithmeticOverflow(_))
    ) || lower.contains("overflow")
    {
        return computed(
            "a computation overflowed",
            "a value went beyond its type (an integer sum or product beyond 64 bits, or a time \
             beyond the calendar): compute in floats (`sum(x * 1.0)`) or narrow the range",
        );
    }
    if lower.contains("regex") && (lower.contains("size limit") || lower.contains("too big")) {
        return computed(
            "a pattern is too large",
            "a `like` pattern compiles to a regular expression above the size limit: shorten it",
        );
    }
    if lower.contains("out of range") && (lower.contains("date") || lower.contains("timestamp"))
        || lower.contains("before year")
    {
        return computed(
            "a time left the calendar",
            "a time computation gave a date before year 1 or after 9999: narrow the range or fix the expression",
        );
    }
    if let Some((file, why)) = crate::catalog::first_unreadable(files) {
        return Diagnostic::new(
            Code::DataUnreadable,
            format!(
                "cannot read `{}`",
                crate::fence::escape(&crate::source::display_name(&file))
            ),
        )
        .with_help(format!(
            "{why}; the file is damaged or changed since `metricc check`: regenerate or remove it"
        ));
    }
    data_error(None, e)
}

/// A diagnostic for an error met while reading or computing data.
pub fn data_error(source: Option<&str>, e: DataFusionError) -> Diagnostic {
    let root = e.find_root();
    #[cfg(feature = "distributed")]
    if let DataFusionError::External(x) = root
        && let Some(u) = x.downcast_ref::<crate::cluster::Unreachable>()
    {
        return Diagnostic::new(
            Code::ClusterUnreachable,
            format!("cannot reach the Ballista scheduler at `{}`", u.url),
        )
        .with_help(format!(
            "{}; start a scheduler there, or correct `--cluster` (`df://HOST:PORT`, or `standalone`)",
            u.cause
        ));
    }
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
