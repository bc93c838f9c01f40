//! init: which column is a table's time and which its entity, guessed from
//! names and types, each guess with the reason `init` writes beside it.

use datafusion::arrow::datatypes::{DataType, Schema};

/// A guessed column and why it was chosen.
#[derive(Debug, Clone)]
pub struct Guess {
    pub column: String,
    pub why: String,
}

/// Names that say "the time of the row", best first.
const TIME_NAMES: &[&str] = &[
    "ts",
    "timestamp",
    "time",
    "event_time",
    "event_timestamp",
    "occurred_at",
    "created_at",
];

/// Entity columns seen in product analytics, best first, after a column
/// other tables share.
const ENTITY_NAMES: &[&str] = &[
    "user_id",
    "developer_id",
    "account_id",
    "customer_id",
    "organization_id",
    "org_id",
    "team_id",
    "workspace_id",
    "distinct_id",
    "person_id",
    "visitor_id",
    "device_id",
];

pub fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

fn is_key_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    ) || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8))
}

/// The time column: a timestamp or date column, by name (`ts`,
/// `created_at`, `*_at`, `*_time`, then dates), then by position.
pub fn time(schema: &Schema) -> Option<Guess> {
    let candidates: Vec<(&str, bool)> = schema
        .fields()
        .iter()
        .filter(|f| is_time(f.data_type()))
        .map(|f| {
            let stamp = matches!(f.data_type(), DataType::Timestamp(..));
            (f.name().as_str(), stamp)
        })
        .collect();
    let rank = |(name, stamp): &(&str, bool)| {
        let n = name.to_ascii_lowercase();
        let by_name = TIME_NAMES.iter().position(|t| *t == n).unwrap_or(
            if n.ends_with("_at") || n.ends_with("_time") || n.ends_with("_ts") {
                TIME_NAMES.len()
            } else {
                TIME_NAMES.len() + 1
            },
        );
        // A timestamp before a date of the same rank.
        (by_name, !stamp)
    };
    let best = candidates.iter().min_by_key(|c| rank(c))?;
    let others: Vec<String> = candidates
        .iter()
        .filter(|c| c.0 != best.0)
        .map(|c| format!("`{}`", c.0))
        .collect();
    let kind = if best.1 { "timestamp" } else { "date" };
    let why = match others.len() {
        0 => format!("the only {kind} column"),
        _ => format!(
            "a {kind} column, chosen over {} by its name",
            others.join(", ")
        ),
    };
    Some(Guess {
        column: best.0.to_string(),
        why,
    })
}

/// The entity column: an id column (`*_id`) of text or integers that
/// other tables share, then a usual entity name, then by position. The
/// table's own row id (`payment_id` in `payments`) is not an entity.
pub fn entity(schema: &Schema, table: &str, shared: impl Fn(&str) -> usize) -> Option<Guess> {
    let own = format!("{}_id", singular(table));
    let candidates: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| is_key_type(f.data_type()))
        .map(|f| f.name().as_str())
        .filter(|n| n.to_ascii_lowercase().ends_with("_id") && n.to_ascii_lowercase() != own)
        .collect();
    let best = candidates.iter().min_by_key(|n| {
        let usual = ENTITY_NAMES
            .iter()
            .position(|e| *e == n.to_ascii_lowercase())
            .unwrap_or(ENTITY_NAMES.len());
        (std::cmp::Reverse(shared(n)), usual)
    })?;
    let n = shared(best);
    let why = if n > 0 {
        format!(
            "an id column that {n} other table{} also ha{}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "ve" }
        )
    } else if ENTITY_NAMES.contains(&best.to_ascii_lowercase().as_str()) {
        "a usual name for who a row is about".to_string()
    } else {
        "the first id column".to_string()
    };
    Some(Guess {
        column: best.to_string(),
        why,
    })
}

/// `developers` -> `developer`, `companies` -> `company`, `data` -> `data`.
pub fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("ss") || word.ends_with("us") || !word.ends_with('s') {
        word.to_string()
    } else {
        word[..word.len() - 1].to_string()
    }
}

/// A metricc name from a file or column name: lower case, letters, digits
/// and `_`, not starting with a digit.
pub fn identifier(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        None => "data".to_string(),
        Some(c) if c.is_ascii_digit() => format!("t_{out}"),
        Some(_) => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, TimeUnit};

    fn schema(cols: &[(&str, DataType)]) -> Schema {
        Schema::new(
            cols.iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn time_prefers_usual_names_then_timestamps() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = schema(&[
            ("updated_at", ts.clone()),
            ("period", DataType::Date32),
            ("paid_at", ts.clone()),
            ("created_at", ts.clone()),
        ]);
        assert_eq!(time(&s).unwrap().column, "created_at");
        let s = schema(&[("period", DataType::Date32), ("paid_at", ts.clone())]);
        assert_eq!(time(&s).unwrap().column, "paid_at");
        let s = schema(&[("day", DataType::Date32), ("amount", DataType::Float64)]);
        let g = time(&s).unwrap();
        assert_eq!(
            (g.column.as_str(), g.why.as_str()),
            ("day", "the only date column")
        );
        assert!(time(&schema(&[("n", DataType::Int64)])).is_none());
    }

    #[test]
    fn entity_prefers_shared_ids_and_skips_the_row_id() {
        let s = schema(&[
            ("payment_id", DataType::Utf8),
            ("api_key_id", DataType::Utf8),
            ("developer_id", DataType::Utf8),
            ("amount", DataType::Float64),
        ]);
        let shared = |n: &str| usize::from(n == "developer_id") * 3;
        let g = entity(&s, "payments", shared).unwrap();
        assert_eq!(g.column, "developer_id");
        assert_eq!(g.why, "an id column that 3 other tables also have");
        // Nothing shared: a usual name wins over the first id.
        let g = entity(&s, "payments", |_| 0).unwrap();
        assert_eq!(g.column, "developer_id");
        let s = schema(&[("score", DataType::Float64)]);
        assert!(entity(&s, "answers", |_| 0).is_none());
    }

    #[test]
    fn names() {
        assert_eq!(singular("developers"), "developer");
        assert_eq!(singular("companies"), "company");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("access"), "access");
        assert_eq!(identifier("Page-Views 2026"), "page_views_2026");
        assert_eq!(identifier("2026_events"), "t_2026_events");
        assert_eq!(identifier("--"), "data");
    }
}
