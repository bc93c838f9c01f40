//! The value types of the expression language, and the schema of a source as
//! the front end sees it (no Arrow types here: see `catalog` for the mapping).

use std::fmt;

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Timestamp,
    Date,
    Duration,
    /// The type of `null`: fits anywhere.
    Null,
    /// A Parquet type the language has no operations for (lists, structs, binary).
    Other,
    /// Not known because of an earlier error; accepted everywhere to avoid cascades.
    Unknown,
}

impl Type {
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Unknown | Type::Null)
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, Type::Timestamp | Type::Date)
    }

    /// Whether values of the two types may be compared with `=`, `<`, `in`, `between`.
    pub fn comparable(self, other: Type) -> bool {
        use Type::*;
        match (self, other) {
            (Unknown | Null, _) | (_, Unknown | Null) => true,
            (Int | Float, Int | Float) => true,
            (Timestamp | Date, Timestamp | Date) => true,
            (a, b) => a == b && a != Other,
        }
    }

    /// The common type of two branches (`coalesce`, `if`), if any.
    pub fn unify(self, other: Type) -> Option<Type> {
        use Type::*;
        match (self, other) {
            (Unknown, _) | (_, Unknown) => Some(Unknown),
            (Null, t) | (t, Null) => Some(t),
            (Int, Float) | (Float, Int) => Some(Float),
            (Timestamp, Date) | (Date, Timestamp) => Some(Timestamp),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Bool => "boolean",
            Type::Int => "integer",
            Type::Float => "float",
            Type::String => "string",
            Type::Timestamp => "timestamp",
            Type::Date => "date",
            Type::Duration => "duration",
            Type::Null => "null",
            Type::Other => "unsupported type",
            Type::Unknown => "unknown",
        })
    }
}

/// A column of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
    /// The Parquet/Arrow type as written in the file, for messages.
    pub physical: String,
    /// Comes from a hive-style directory name (`date=2026-01-01/`).
    pub partition: bool,
}

/// What the Parquet footers of a source say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceSchema {
    pub files: Vec<std::path::PathBuf>,
    pub columns: Vec<Column>,
    /// The time or entity columns whose nulls the footers cannot rule out
    /// (a file without null counts for them).
    pub unverified: Vec<String>,
    /// Files whose stored Arrow schema (`ARROW:schema`) is damaged: read
    /// from their Parquet schema alone.
    pub damaged: Vec<std::path::PathBuf>,
}

impl SourceSchema {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.columns.iter().map(|c| c.name.as_str())
    }
}
