//! output: record batches -> table, CSV, JSON or Parquet, on stdout or in a
//! file written atomically (a temporary file beside it, renamed into place;
//! see [`write_output`] for links, devices and hard links).

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table, for people.
    Table,
    /// CSV with a header row; empty fields are nulls.
    Csv,
    /// A JSON array of objects, one per row; nulls written as `null`.
    Json,
    /// Apache Parquet (needs `--output`, or stdout that is not a terminal).
    Parquet,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "a table",
            OutputFormat::Csv => "CSV",
            OutputFormat::Json => "JSON",
            OutputFormat::Parquet => "Parquet",
        }
    }
}

/// A table for a terminal with control characters in its cells escaped
/// (`\u{1b}`), so that data cannot move the cursor or hide text in a CI
/// log; a cell holding one is then wider than its column. CSV, JSON and
/// Parquet keep the bytes as they are.
fn safe(table: &impl std::fmt::Display) -> String {
    crate::fence::escape(&table.to_string())
}

/// Encodes the batches in `format`. A table of totals (one row, no bucket or
/// breakdown columns: `vertical`) is printed one metric per line.
pub fn encode(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    vertical: bool,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match format {
        OutputFormat::Table if vertical && rows == 1 => {
            let options = FormatOptions::default().with_null("null");
            let Some(batch) = batches.iter().find(|b| b.num_rows() == 1) else {
                return Err("no row".into());
            };
            let mut names = Vec::new();
            let mut values = Vec::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let f = datafusion::arrow::util::display::ArrayFormatter::try_new(
                    column.as_ref(),
                    &options,
                )
                .map_err(|e| e.to_string())?;
                names.push(field.name().clone());
                values.push(f.value(0).to_string());
            }
            let two = RecordBatch::try_from_iter(vec![
                (
                    "metric",
                    std::sync::Arc::new(datafusion::arrow::array::StringArray::from(names)) as _,
                ),
                (
                    "value",
                    std::sync::Arc::new(datafusion::arrow::array::StringArray::from(values)) as _,
                ),
            ])
            .map_err(|e| e.to_string())?;
            let text =
                pretty_format_batches_with_options(&[two], &options).map_err(|e| e.to_string())?;
            writeln!(out, "{}", safe(&text)).map_err(|e| e.to_string())?;
        }
        OutputFormat::Table => {
            let options = FormatOptions::default().with_null("null");
            let text = if batches.iter().all(|b| b.num_rows() == 0) {
                let empty = RecordBatch::new_empty(schema.clone());
                pretty_format_batches_with_options(&[empty], &options)
            } else {
                pretty_format_batches_with_options(batches, &options)
            }
            .map_err(|e| e.to_string())?;
            writeln!(out, "{}", safe(&text)).map_err(|e| e.to_string())?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| e.to_string())?;
            }
            for b in batches {
                w.write(b).map_err(|e| e.to_string())?;
            }
        }
        OutputFormat::Json => {
            let mut w = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut out);
            for b in batches {
                w.write(b).map_err(|e| e.to_string())?;
            }
            w.finish().map_err(|e| e.to_string())?;
            drop(w);
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
        }
        OutputFormat::Parquet => {
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
                .build();
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
                &mut out,
                schema.clone(),
                Some(props),
            )
            .map_err(|e| e.to_string())?;
            for b in batches {
                w.write(b).map_err(|e| e.to_string())?;
            }
            w.close().map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// Writes `bytes` to stdout. A closed pipe (`| head`) ends the output
/// quietly: the reader has what it wanted.
pub fn print(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|_| out.flush());
}

/// Whether `path` is one of the project's own files: its project file,
/// definition, data or test files (an output written there would destroy
/// what it was computed from). Links are followed.
pub fn is_project_file(checked: &crate::driver::Checked, path: &Path) -> bool {
    let Ok(target) = std::fs::canonicalize(path) else {
        return false;
    };
    let same = |p: &Path| std::fs::canonicalize(p).is_ok_and(|c| c == target);
    checked.sources.iter().any(|(_, f)| same(&f.path))
        || checked
            .schemas
            .values()
            .flatten()
            .any(|s| s.files.iter().any(|f| same(f)))
        || crate::testing::files(&checked.dir).iter().any(|t| same(t))
}

/// Writes `bytes` to `path`, only once they are complete, and the way
/// `sort -o` and DuckDB's `COPY` do:
/// - a path that exists and is not a regular file (`/dev/null`,
///   `/dev/stdout`, a FIFO) is opened and written, never replaced;
/// - a link is followed, and the file it leads to is written (a dangling
///   link creates its target);
/// - a regular file is replaced atomically: a temporary file beside it is
///   written, flushed to disk, given the old file's permissions (and owner,
///   when allowed) and renamed over it; on any error the temporary file is
///   removed and the old file is untouched;
/// - a file with other hard links is rewritten in place, so that every name
///   keeps seeing it (atomicity would break the links; the bytes are
///   complete before the file is opened).
pub fn write_output(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "the output path is a directory",
        )),
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
        Ok(m) if m.nlink() > 1 => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)?;
            f.write_all(bytes)?;
            f.sync_all()
        }
        Ok(m) => replace(&std::fs::canonicalize(path)?, bytes, Some(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link: write where it points.
            let target = match std::fs::read_link(path) {
                Ok(t) => path.parent().map_or(t.clone(), |dir| dir.join(&t)),
                Err(_) => path.to_path_buf(),
            };
            replace(&target, bytes, None)
        }
        Err(e) => Err(e),
    }
}

/// Replaces the regular file `path` (or creates it) atomically with
/// `bytes`, keeping `old`'s permissions and owner.
fn replace(path: &Path, bytes: &[u8], old: Option<&std::fs::Metadata>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.metricc-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1
            }
            Err(e) => return Err(e),
        }
    };
    let result = file
        .write_all(bytes)
        .and_then(|_| {
            if let Some(old) = old {
                file.set_permissions(old.permissions())?;
                // Only root may give a file away; others keep their own.
                let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
            }
            Ok(())
        })
        .and_then(|_| file.sync_all())
        .and_then(|_| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
