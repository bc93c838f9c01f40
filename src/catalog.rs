//! Stage `read` for data: source paths -> Parquet files -> [`SourceSchema`],
//! from the footers only (no row is read). The one front-end module that
//! touches the Parquet reader; it hands the resolver plain types.

use crate::diagnostics::{Code, Diagnostic};
use crate::fence::{Fence, MAX_WALK_ENTRIES, is_glob};
use crate::semantic::types::{Column, SourceSchema, Type};
use crate::syntax::ast::{EntityDef, SourceDef};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::path::{Path, PathBuf};

/// Most files one source may match; more is almost certainly a wrong glob.
const MAX_FILES: usize = 100_000;

/// Finds a source's files and reads their schemas. Problems are diagnostics on
/// the source's `path`; a path outside `fence` is refused before anything is
/// read (not even whether it exists is told).
pub fn load(
    fence: &Fence,
    project_dir: &Path,
    source: &SourceDef,
) -> Result<SourceSchema, Diagnostic> {
    let keys = [
        (
            "time",
            Some(&source.time),
            "a row without a time cannot be placed in any bucket",
        ),
        (
            "entity",
            source.entity.as_ref(),
            "a row without an entity cannot be counted per entity",
        ),
    ];
    let keys: Vec<Key> = keys
        .into_iter()
        .filter_map(|(role, k, why)| Some((role, k?, why)))
        .collect();
    load_table(
        fence,
        project_dir,
        &format!("source `{}`", source.name.value),
        &source.path,
        &keys,
    )
}

/// Reads an entity's attribute table like a source's files; its
/// `valid_from` column, when it has one, may not hold nulls.
pub fn load_entity(
    fence: &Fence,
    project_dir: &Path,
    entity: &EntityDef,
) -> Result<SourceSchema, Diagnostic> {
    let keys: Vec<Key> = entity
        .valid_from
        .iter()
        .map(|v| {
            (
                "valid_from",
                v,
                "a version without a start cannot be placed in time",
            )
        })
        .collect();
    load_table(
        fence,
        project_dir,
        &format!("entity `{}`", entity.name.value),
        &entity.path,
        &keys,
    )
}

/// A column whose nulls are refused: its role, name and why.
type Key<'a> = (&'a str, &'a crate::syntax::ast::Name, &'a str);

/// The files of `path` and the schema their footers agree on; `what` names
/// the owner in messages (`source \`events\``).
fn load_table(
    fence: &Fence,
    project_dir: &Path,
    what: &str,
    path: &crate::syntax::ast::Name,
    keys: &[Key],
) -> Result<SourceSchema, Diagnostic> {
    let missing = |label: String, help: String| {
        Diagnostic::new(
            Code::SourceFilesMissing,
            format!("no Parquet files for {what}"),
        )
        .at(path.span, label)
        .with_help(help)
    };
    let files = find_files(fence, project_dir, &path.value).map_err(|e| match e {
        FindError::Outside(label) => Diagnostic::new(
            Code::PathOutsideProject,
            format!("the path of {what} is outside the project"),
        )
        .at(path.span, label)
        .with_help(match crate::storage::remote_url(&path.value) {
            Some(url) => fence.remote_help(url),
            None => fence.help(),
        }),
        FindError::Unsupported(label) => missing(label, "build metricc with `--features object-storage` (or `distributed`) to read `s3://`, `gs://` and `az://` paths".into()),
        FindError::Remote(label) => missing(label, "check the URL and the credentials in the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`; docs/DISTRIBUTED.md, \"Sources on object storage\")".into()),
        FindError::Missing(label) => missing(label, format!(
            "paths are relative to the project directory `{}`; generate sample data with `metricc sample-data`, or fix the path",
            project_dir.display()
        )),
    })?;
    let mut schema: Option<(PathBuf, Vec<Column>)> = None;
    let mut unverified: Vec<String> = Vec::new();
    let mut damaged: Vec<PathBuf> = Vec::new();
    // Footers on object storage are fetched together: each is a round trip.
    let mut fetched = crate::storage::footers(&files);
    for file in &files {
        let (mut columns, meta, broken) = read_footer(file, fetched.remove(file)).map_err(|e| {
            Diagnostic::new(
                Code::ParquetUnreadable,
                format!("cannot read the Parquet footer of `{}`", file.display()),
            )
            .at(path.span, format!("this path matches `{}`", file.display()))
            .with_help(format!("{e}; regenerate or remove the file"))
        })?;
        for &(role, key, why) in keys {
            let Some(nulls) = null_count(&meta, &key.value) else {
                if !unverified.contains(&key.value) {
                    unverified.push(key.value.clone());
                }
                continue;
            };
            if nulls > 0 {
                return Err(Diagnostic::new(
                    Code::NullKeyValues,
                    format!("the {role} column `{}` of {what} has null values", key.value),
                )
                .at(key.span, format!("{nulls} rows of `{}` have no `{}`", file.display(), key.value))
                .with_help(format!("{why}: drop or repair those rows where the data is produced, or point the source at files without them")));
            }
        }
        if broken {
            damaged.push(file.clone());
        }
        columns.extend(partition_columns(project_dir, &path.value, file));
        match &schema {
            None => schema = Some((file.clone(), columns)),
            Some((first, expected)) => {
                if let Some(problem) = drift(expected, &columns) {
                    return Err(Diagnostic::new(
                        Code::SchemaDrift,
                        format!("the files of {what} disagree on their columns"),
                    )
                    .at(path.span, format!("`{}` {problem}", file.display()))
                    .with_help(format!(
                        "compared with `{}`; rewrite the odd file with the same schema or narrow the path",
                        first.display()
                    )));
                }
            }
        }
    }
    let (_, columns) = schema.expect("find_files returns at least one file");
    Ok(SourceSchema {
        files,
        columns,
        unverified,
        damaged,
    })
}

/// How `actual` differs from `expected`, if it does.
fn drift(expected: &[Column], actual: &[Column]) -> Option<String> {
    for e in expected {
        match actual.iter().find(|a| a.name == e.name) {
            None => return Some(format!("has no column `{}`", e.name)),
            // Decimals are read as the first file's type: a float or another
            // scale would be cut to it (10,000 x 0.004 summed to 0.00), so a
            // decimal must match exactly. Integers of other widths, floats of
            // other widths and text encodings are widened safely.
            Some(a)
                if a.ty != e.ty
                    || ((a.physical.starts_with("Decimal")
                        || e.physical.starts_with("Decimal"))
                        && a.physical != e.physical) =>
            {
                return Some(format!(
                    "has `{}` as {} where other files have {}",
                    e.name, a.physical, e.physical
                ));
            }
            Some(_) => {}
        }
    }
    actual
        .iter()
        .find(|a| !expected.iter().any(|e| e.name == a.name))
        .map(|a| format!("has an extra column `{}`", a.name))
}

/// Why a source's path gives no files.
#[derive(Debug, Clone, PartialEq)]
pub enum FindError {
    /// The path, or a file it finds, is outside the fence.
    Outside(String),
    /// Nothing there, or too much.
    Missing(String),
    /// A URL on object storage, in a build that cannot read it.
    Unsupported(String),
    /// Object storage did not answer, or answered with nothing.
    Remote(String),
}

/// The Parquet files a path names: a file, a directory (recursively), or a
/// glob, all inside `fence`. Linked directories are not entered; a linked
/// file is read when it leads to a file inside the fence.
pub fn find_files(
    fence: &Fence,
    project_dir: &Path,
    path: &str,
) -> Result<Vec<PathBuf>, FindError> {
    if let Some(url) = crate::storage::remote_url(path) {
        return find_objects(fence, url);
    }
    fence
        .written(project_dir, path)
        .map_err(FindError::Outside)?;
    let full = project_dir.join(path);
    let shown = crate::fence::escape(&full.display().to_string());
    let mut files = Vec::new();
    let too_many = |_| {
        FindError::Missing(format!(
            "`{shown}` holds more than {MAX_WALK_ENTRIES} entries"
        ))
    };
    if is_glob(path) {
        for p in crate::fence::glob(project_dir, path)
            .map_err(|e| FindError::Missing(format!("invalid glob pattern: {e}")))?
        {
            if p.is_dir() && !p.is_symlink() {
                files.extend(walk(&p).map_err(too_many)?);
            } else if is_data_file(&p) && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        files.dedup();
    } else if full.is_dir() {
        files = walk(&full).map_err(too_many)?;
    } else if full.is_file() {
        files.push(full.clone());
    } else {
        return Err(FindError::Missing(format!("`{shown}` does not exist")));
    }
    for f in &files {
        fence.found(f).map_err(FindError::Outside)?;
    }
    if files.is_empty() {
        return Err(FindError::Missing(format!(
            "`{shown}` matches no `.parquet` file"
        )));
    }
    if files.len() > MAX_FILES {
        return Err(FindError::Missing(format!(
            "`{shown}` matches more than {MAX_FILES} files"
        )));
    }
    Ok(files)
}

/// The Parquet objects a URL names: one object, every object below a
/// prefix, or those below a glob's fixed prefix that match it.
fn find_objects(fence: &Fence, url: &str) -> Result<Vec<PathBuf>, FindError> {
    fence.remote(url).map_err(FindError::Outside)?;
    let shown = crate::fence::escape(url);
    if !crate::storage::AVAILABLE {
        return Err(FindError::Unsupported(format!(
            "`{shown}` is on object storage, which this build of metricc does not read"
        )));
    }
    #[cfg(not(feature = "object-storage"))]
    return Ok(Vec::new());
    #[cfg(feature = "object-storage")]
    {
        let (root, pattern) = if is_glob(url) {
            let p = glob::Pattern::new(url)
                .map_err(|e| FindError::Missing(format!("invalid glob pattern: {e}")))?;
            (crate::fence::glob_root(url), Some(p))
        } else {
            (url, None)
        };
        let listed = crate::storage::list(root, MAX_FILES)
            .map_err(|e| FindError::Remote(format!("cannot list `{shown}`: {e}")))?;
        if listed.len() > MAX_FILES {
            return Err(FindError::Missing(format!(
                "`{shown}` matches more than {MAX_FILES} files"
            )));
        }
        let files: Vec<PathBuf> = listed
            .into_iter()
            .map(|(u, _)| u)
            .filter(|u| pattern.as_ref().is_none_or(|p| matches_remote(p, u)))
            .filter(|u| {
                // Hidden and `_` directories below the root are skipped, as
                // on disk.
                let below = u.strip_prefix(root).unwrap_or(u);
                let dirs = below.rsplit_once('/').map_or("", |(dirs, _)| dirs);
                !dirs
                    .split('/')
                    .any(|d| d.starts_with('.') || d.starts_with('_'))
                    && is_data_file(Path::new(u))
            })
            .map(PathBuf::from)
            .collect();
        if files.is_empty() {
            return Err(FindError::Remote(format!(
                "`{shown}` matches no `.parquet` object"
            )));
        }
        Ok(files)
    }
}

/// Whether object `url`, or a prefix of it ending at a `/` (a matched
/// directory is read whole), matches `pattern`, with the rules of local
/// globs: `*` stays within one name and matches no leading dot.
#[cfg(feature = "object-storage")]
fn matches_remote(pattern: &glob::Pattern, url: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    url.match_indices('/')
        .map(|(i, _)| &url[..i])
        .chain(std::iter::once(url))
        .any(|prefix| pattern.matches_with(prefix, options))
}

/// Hidden and `_`-prefixed files (`_SUCCESS`, `.crc`) are not data, as in Spark and DataFusion.
fn is_data_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && !name.starts_with('_') && name.ends_with(".parquet")
}

/// The data files below `dir`, hidden and `_` directories left out, linked
/// directories not entered.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, crate::fence::TooManyEntries> {
    crate::fence::walk(
        dir,
        &|_, name| !name.starts_with('.') && !name.starts_with('_'),
        &|p, _| is_data_file(p),
    )
}

/// `key=value` directory names between the source root and the file.
fn partition_columns(project_dir: &Path, path: &str, file: &Path) -> Vec<Column> {
    let root = match crate::storage::remote_url(path) {
        Some(url) if is_glob(url) => PathBuf::from(crate::fence::glob_root(url)),
        Some(url) => PathBuf::from(url),
        None if is_glob(path) => project_dir.join(crate::fence::glob_root(path)),
        None => project_dir.join(path),
    };
    let Ok(rel) = file.strip_prefix(&root) else {
        return Vec::new();
    };
    let Some(parent) = rel.parent() else {
        return Vec::new();
    };
    parent
        .components()
        .filter_map(|c| {
            let seg = c.as_os_str().to_string_lossy();
            let (k, _) = seg.split_once('=')?;
            Some(Column {
                name: k.to_string(),
                ty: Type::String,
                physical: "partition".into(),
                partition: true,
            })
        })
        .collect()
}

/// Nulls in a column, by the row groups' statistics; `None` when a row
/// group has no null count for it (a writer that kept no statistics).
fn null_count(meta: &ParquetMetaData, column: &str) -> Option<u64> {
    let Some(index) = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts().len() == 1 && c.name() == column)
    else {
        return Some(0);
    };
    meta.row_groups()
        .iter()
        .map(|rg| {
            rg.column(index)
                .statistics()
                .and_then(|s| s.null_count_opt())
        })
        .sum()
}

/// The columns and metadata of `file`'s footer, and whether its stored
/// Arrow schema is damaged; `fetched` is the footer already read from
/// object storage ([`crate::storage::footers`]).
fn read_footer(
    file: &Path,
    fetched: Option<Result<ParquetMetaData, String>>,
) -> Result<(Vec<Column>, ParquetMetaData, bool), String> {
    let meta = match fetched {
        Some(meta) => meta?,
        None => {
            let f = std::fs::File::open(file).map_err(|e| e.to_string())?;
            ParquetMetaDataReader::new()
                .parse_and_finish(&f)
                .map_err(|e| e.to_string())?
        }
    };
    let (arrow, damaged) = arrow_schema(&meta)?;
    let columns = arrow
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            ty: type_of(f.data_type()),
            physical: f.data_type().to_string(),
            partition: false,
        })
        .collect();
    Ok((columns, meta, damaged))
}

/// Runs `f`, catching a panic with its message silenced: the Parquet and
/// Arrow IPC decoders panic on some damaged files rather than failing. The
/// panic hook is process-wide; the front end reads footers on one thread,
/// and a failed run reads its files again on one thread.
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> std::thread::Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    outcome
}

/// The rows of a Parquet file, batch by batch, its stored Arrow schema
/// (`ARROW:schema`) ignored: the Parquet schema alone, as DuckDB reads it.
fn batches_of(
    file: &Path,
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader, String> {
    use datafusion::parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    let f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    ParquetRecordBatchReaderBuilder::try_new_with_options(f, options)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())
}

/// The first of `files` that cannot be read to its end, with why: every
/// row group is decoded. Run after a query failed, to name the file at
/// fault.
pub fn first_unreadable(files: &[PathBuf]) -> Option<(PathBuf, String)> {
    // Objects on storage are not read twice: the scan's own error stands.
    for file in files.iter().filter(|f| crate::storage::remote(f).is_none()) {
        let read = || -> Result<(), String> {
            for batch in batches_of(file)? {
                batch.map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        match quietly(read) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Some((file.clone(), e)),
            Err(_) => return Some((file.clone(), "the decoder failed on it".to_string())),
        }
    }
    None
}

/// The Arrow schema of a Parquet file, from the Arrow schema its writer
/// stored in the footer (`ARROW:schema`, which keeps time zones and other
/// Arrow types), and whether that stored schema is damaged. arrow-ipc
/// fails or panics on a damaged one; the schema then comes from the Parquet
/// schema alone, as DuckDB reads such a file, and the engine reads the file
/// the same way ([`read_without_arrow_schema`]).
pub fn arrow_schema(meta: &ParquetMetaData) -> Result<(Schema, bool), String> {
    let file_meta = meta.file_metadata();
    let descr = file_meta.schema_descr();
    let kv = file_meta.key_value_metadata();
    match quietly(|| parquet_to_arrow_schema(descr, kv)) {
        Ok(Ok(schema)) => Ok((schema, false)),
        // A stored schema the decoder rejects, or panics on: the Parquet
        // schema alone (the other key-value pairs kept).
        Ok(Err(_)) | Err(_) if kv.is_some() => {
            let others: Vec<_> = kv
                .into_iter()
                .flatten()
                .filter(|kv| kv.key != "ARROW:schema")
                .cloned()
                .collect();
            parquet_to_arrow_schema(descr, Some(&others))
                .map(|s| (s, true))
                .map_err(|e| e.to_string())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the Parquet schema cannot be read".to_string()),
    }
}

/// Every row of a Parquet file whose `ARROW:schema` is damaged, which
/// DataFusion's reader would decode (and panic on). Such files are rare;
/// they are read whole, in memory.
pub fn read_without_arrow_schema(
    file: &Path,
) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, String> {
    batches_of(file)?
        .map(|b| b.map_err(|e| e.to_string()))
        .collect()
}

/// Maps an Arrow type to the language's types.
pub fn type_of(t: &DataType) -> Type {
    use DataType as D;
    match t {
        D::Boolean => Type::Bool,
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            Type::Int
        }
        D::Float16
        | D::Float32
        | D::Float64
        | D::Decimal32(..)
        | D::Decimal64(..)
        | D::Decimal128(..)
        | D::Decimal256(..) => Type::Float,
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Type::String,
        D::Dictionary(_, v) => type_of(v),
        D::Timestamp(..) => Type::Timestamp,
        D::Date32 | D::Date64 => Type::Date,
        D::Duration(_) => Type::Duration,
        D::Null => Type::Null,
        _ => Type::Other,
    }
}

/// The Arrow schema and metadata of one Parquet file, from its footer.
pub fn footer(file: &Path) -> Result<(Schema, ParquetMetaData), String> {
    let f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let meta = quietly(|| ParquetMetaDataReader::new().parse_and_finish(&f))
        .map_err(|_| "the footer cannot be decoded".to_string())?
        .map_err(|e| e.to_string())?;
    let (schema, _) = arrow_schema(&meta)?;
    Ok((schema, meta))
}

/// The first and last UTC day of a time column (a timestamp or a date),
/// from the row groups' statistics; `None` when a row group keeps none.
pub fn day_bounds(
    schema: &Schema,
    meta: &ParquetMetaData,
    column: &str,
) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::compute::{cast, max, min};
    use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
    let converter =
        StatisticsConverter::try_new(column, schema, meta.file_metadata().schema_descr()).ok()?;
    let day = |array: datafusion::arrow::array::ArrayRef, first: bool| {
        if array.null_count() > 0 || array.is_empty() {
            return None;
        }
        // Both kinds of time as microseconds since the epoch, in UTC.
        let micros = cast(
            &array,
            &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
        )
        .ok()?;
        let micros = cast(&micros, &DataType::Int64).ok()?;
        let micros = micros.as_any().downcast_ref::<Int64Array>()?;
        let v = if first { min(micros) } else { max(micros) }?;
        chrono::DateTime::from_timestamp_micros(v).map(|t| t.date_naive())
    };
    let first = day(converter.row_group_mins(meta.row_groups()).ok()?, true)?;
    let last = day(converter.row_group_maxes(meta.row_groups()).ok()?, false)?;
    Some((first, last))
}
