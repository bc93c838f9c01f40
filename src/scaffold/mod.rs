//! `metricc init`: Parquet files -> a first project. Each file (or
//! directory of parts) becomes a source, with its time and entity columns
//! guessed ([`guess`]), or an entity's table when it is keyed by an id the
//! other tables share; each source gets a first metric and a test that
//! passes. Every guess is written beside what it chose, as a comment.
//!
//! Only footers are read, but for an entity table's key, whose uniqueness
//! is checked by reading that column (a wrong guess would fail `run`).

pub mod guess;
mod write;

use crate::catalog;
use crate::engine::Engine;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Schema};
use guess::Guess;
use std::path::{Path, PathBuf};

/// One table found: a Parquet file, or a directory of parts of one table.
#[derive(Debug)]
pub struct Table {
    /// Its name in the project (a source or entity name).
    pub name: String,
    /// Its path as the project will write it, relative to the project.
    pub written: String,
    /// Where it is now, when it is copied into the project.
    pub copy_from: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub schema: Schema,
    pub role: Role,
}

/// What a table becomes.
#[derive(Debug)]
pub enum Role {
    Source {
        time: Guess,
        entity: Option<Guess>,
        /// Its first and last UTC day, from the time column's statistics.
        days: Option<(NaiveDate, NaiveDate)>,
    },
    Entity {
        /// Its name (`developer`).
        entity: String,
        key: Guess,
        valid_from: Option<String>,
    },
    /// Left out, and why.
    Skipped(String),
}

/// A planned project.
#[derive(Debug)]
pub struct Scaffold {
    pub name: String,
    pub tables: Vec<Table>,
}

/// Names of a version table's start column.
const VALID_FROM: &[&str] = &["valid_from", "valid_at", "effective_from", "effective_at"];

/// Plans a project in `dir` over `inputs` (files or directories). A table
/// outside `dir` is copied into `dir/data/` when `copy`, else refused:
/// a project reads nothing outside its directory unless told to.
pub fn plan(
    dir: &Path,
    inputs: &[PathBuf],
    copy: bool,
    engine: &Engine,
) -> Result<Scaffold, String> {
    let root = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let mut found: Vec<(String, Vec<PathBuf>, PathBuf)> = Vec::new();
    for input in inputs {
        let path = std::path::absolute(input).map_err(|e| e.to_string())?;
        if path.is_file() {
            if !is_parquet(&path) {
                return Err(format!("`{}` is not a `.parquet` file", input.display()));
            }
            found.push((stem(&path), vec![path.clone()], path));
        } else if path.is_dir() {
            found.extend(tables_in(&path)?);
        } else {
            return Err(format!("`{}` does not exist", input.display()));
        }
    }
    if found.is_empty() {
        return Err("no `.parquet` file found in the paths given".into());
    }
    let mut tables: Vec<Table> = Vec::new();
    for (raw, files, at) in found {
        let (schema, _) = catalog::footer(&files[0])
            .map_err(|e| format!("cannot read `{}`: {e}", files[0].display()))?;
        let mut name = guess::identifier(&raw);
        let mut n = 2;
        while tables.iter().any(|t| t.name == name) {
            name = format!("{}_{n}", guess::identifier(&raw));
            n += 1;
        }
        let (written, copy_from) = match at.strip_prefix(&root) {
            Ok(rel) => (rel.to_string_lossy().replace('\\', "/"), None),
            Err(_) if copy => {
                let file = at.file_name().map(|f| f.to_string_lossy().into_owned());
                (
                    format!("data/{}", file.unwrap_or_else(|| name.clone())),
                    Some(at.clone()),
                )
            }
            Err(_) => {
                return Err(format!(
                    "`{}` is outside `{}`: a project reads nothing outside its directory. \
                     Make the project in a directory that holds the data, or pass `--copy` \
                     to copy the files into `{}`",
                    at.display(),
                    dir.display(),
                    Path::new(dir).join("data").display()
                ));
            }
        };
        tables.push(Table {
            name,
            written,
            copy_from,
            files,
            schema,
            role: Role::Skipped(String::new()),
        });
    }
    let columns: Vec<Vec<String>> = tables
        .iter()
        .map(|t| t.schema.fields().iter().map(|f| f.name().clone()).collect())
        .collect();
    for (i, table) in tables.iter_mut().enumerate() {
        let shared = |c: &str| {
            columns
                .iter()
                .enumerate()
                .filter(|(j, cols)| *j != i && cols.iter().any(|x| x == c))
                .count()
        };
        table.role = role(table, shared, engine)?;
    }
    let name = root
        .file_name()
        .map(|n| guess::identifier(&n.to_string_lossy()))
        .unwrap_or_else(|| "metrics".into());
    Ok(Scaffold { name, tables })
}

fn role(table: &Table, shared: impl Fn(&str) -> usize, engine: &Engine) -> Result<Role, String> {
    let schema = &table.schema;
    // An entity's table: keyed by `<singular name>_id`, an id other tables
    // share, one row per key (or per key and start time).
    let entity = guess::singular(&table.name);
    let key = format!("{entity}_id");
    if schema.field_with_name(&key).is_ok() && shared(&key) > 0 {
        let valid_from = schema
            .fields()
            .iter()
            .find(|f| VALID_FROM.contains(&f.name().as_str()) && guess::is_time(f.data_type()))
            .map(|f| f.name().clone());
        let mut columns = vec![key.as_str()];
        columns.extend(valid_from.as_deref());
        let unique = engine
            .unique(&table.files, &columns)
            .map_err(|e| format!("cannot read `{}`: {e}", table.files[0].display()))?;
        if unique {
            let n = shared(&key);
            return Ok(Role::Entity {
                entity,
                key: Guess {
                    column: key,
                    why: format!(
                        "named after the table, shared with {n} other table{}, one row per {}",
                        if n == 1 { "" } else { "s" },
                        if valid_from.is_some() {
                            "key and start time"
                        } else {
                            "key"
                        }
                    ),
                },
                valid_from,
            });
        }
    }
    let Some(time) = guess::time(schema) else {
        return Ok(Role::Skipped(
            "it has no timestamp or date column, which a source needs".into(),
        ));
    };
    let days = table
        .files
        .iter()
        .map(|f| {
            let (s, meta) = catalog::footer(f).ok()?;
            catalog::day_bounds(&s, &meta, &time.column)
        })
        .try_fold(None, |acc: Option<(NaiveDate, NaiveDate)>, b| {
            let (a, z) = b?;
            Some(Some(match acc {
                None => (a, z),
                Some((x, y)) => (x.min(a), y.max(z)),
            }))
        })
        .flatten();
    Ok(Role::Source {
        entity: guess::entity(schema, &table.name, shared),
        time,
        days,
    })
}

/// The tables of a directory: its direct `.parquet` files, each a table,
/// or one table when there are several and they share one schema (parts);
/// and each subdirectory holding `.parquet` files, one table (a
/// partitioned table).
fn tables_in(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>, PathBuf)>, String> {
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(['.', '_']));
        if hidden || p.is_symlink() {
            continue;
        } else if p.is_dir() {
            let parts = parts_below(&p);
            if !parts.is_empty() {
                subdirs.push((stem(&p), parts, p));
            }
        } else if is_parquet(&p) {
            files.push(p);
        }
    }
    let schemas: Vec<Option<Schema>> = files
        .iter()
        .map(|f| catalog::footer(f).ok().map(|(s, _)| s))
        .collect();
    let one_table = files.len() > 1
        && subdirs.is_empty()
        && schemas
            .iter()
            .all(|s| s.is_some() && s.as_ref() == schemas[0].as_ref());
    let mut out = Vec::new();
    if one_table {
        out.push((stem(dir), files, dir.to_path_buf()));
    } else {
        out.extend(files.into_iter().map(|f| (stem(&f), vec![f.clone()], f)));
    }
    out.extend(subdirs);
    Ok(out)
}

/// The `.parquet` files below `dir`, at any depth (hive partitions).
fn parts_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.flatten().map(|e| e.path()) {
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(['.', '_']));
            if hidden || p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if is_parquet(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_parquet(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "parquet")
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether a column's values can be written in a test fixture, and a
/// value that converts to its type.
fn fixture_value(t: &DataType, day: NaiveDate, i: usize) -> Option<String> {
    Some(match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!("x{i}"),
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            format!("x{i}")
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => format!("{i}"),
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => format!("{i}"),
        DataType::Boolean => "true".into(),
        DataType::Date32 | DataType::Date64 => day.to_string(),
        DataType::Timestamp(..) => format!("{day} {:02}:00", 8 + i),
        _ => return None,
    })
}
