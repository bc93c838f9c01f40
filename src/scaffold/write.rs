//! init: a planned [`Scaffold`] -> the text of the project's files, with
//! every guess said in a comment beside it.

use super::{Role, Scaffold, Table, fixture_value};
use crate::syntax::fields::is_identifier;
use chrono::NaiveDate;
use std::fmt::Write;

/// A text as YAML: plain when no YAML reader could take it for anything
/// else (letters, digits, spaces and `-._/:`, no `: `, no leading sign or
/// space), else double-quoted (a JSON string is a YAML double-quoted
/// scalar).
fn q(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -._/:".contains(c))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #");
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// A source's first metrics: its rows, and its distinct entities.
pub struct Metrics {
    pub rows: String,
    pub entities: Option<(String, String)>,
}

impl Table {
    /// The names of its metrics, when it is a source.
    pub fn metrics(&self) -> Option<Metrics> {
        let Role::Source { entity, .. } = &self.role else {
            return None;
        };
        let entities = entity
            .as_ref()
            .filter(|e| is_identifier(&e.column))
            .map(|e| {
                let who = e.column.strip_suffix("_id").unwrap_or(&e.column);
                (
                    format!("{}_{}s", self.name, super::guess::singular(who)),
                    e.column.clone(),
                )
            });
        Some(Metrics {
            rows: format!("{}_rows", self.name),
            entities,
        })
    }
}

impl Scaffold {
    /// The data's first and last day over every source, when all sources
    /// keep statistics of their time column.
    pub fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        let mut out: Option<(NaiveDate, NaiveDate)> = None;
        for t in &self.tables {
            if let Role::Source { days, .. } = &t.role {
                let (a, z) = (*days)?;
                out = Some(match out {
                    None => (a, z),
                    Some((x, y)) => (x.min(a), y.max(z)),
                });
            }
        }
        out
    }

    /// The project's files: path relative to the project, and text.
    pub fn files(&self, made: &str) -> Vec<(String, String)> {
        vec![
            ("metricc.yaml".into(), self.project(made)),
            ("sources.yaml".into(), self.sources()),
            ("metrics.yaml".into(), self.metrics()),
            ("tests/first.test.yaml".into(), self.tests()),
        ]
    }

    fn project(&self, made: &str) -> String {
        let mut o = String::new();
        let n = self.tables.len();
        let _ = writeln!(
            o,
            "# Made by `metricc init` from {n} table{} on {made}. Guesses are marked\n\
             # `guessed`: read them, then run `metricc check` and `metricc test`.",
            if n == 1 { "" } else { "s" }
        );
        let _ = writeln!(o, "name: {}", q(&self.name));
        o.push_str("# The zone in which days, weeks and months begin: set your business's\n");
        o.push_str("# (an IANA name such as Europe/Berlin or America/New_York).\n");
        o.push_str("time_zone: UTC\nweek_start: monday\n");
        match self.days() {
            Some((first, last)) => {
                let _ = writeln!(
                    o,
                    "# The data's days, from the time columns' statistics in the footers:\n\
                     # `metricc run` computes this range unless given --from and --to.\n\
                     default_range: {{ from: {first}, to: {} }}",
                    last.succ_opt().unwrap_or(last)
                );
            }
            None => o.push_str(
                "# No default range: a time column keeps no statistics. Pass --from and\n\
                 # --to to `metricc run`, or set `default_range: { from: ..., to: ... }`.\n",
            ),
        }
        o.push_str("files: [sources.yaml, metrics.yaml]\n");
        o
    }

    fn sources(&self) -> String {
        let mut o = String::from("sources:\n");
        let mut sources = 0;
        for t in &self.tables {
            let Role::Source { time, entity, .. } = &t.role else {
                continue;
            };
            sources += 1;
            let _ = writeln!(o, "  {}:", t.name);
            let _ = writeln!(
                o,
                "    description: {}",
                q(&format!("Rows of {}", t.written))
            );
            let _ = writeln!(o, "    path: {}", q(&t.written));
            let _ = writeln!(o, "    time: {}  # guessed: {}", q(&time.column), time.why);
            match entity {
                Some(e) => {
                    let _ = writeln!(o, "    entity: {}  # guessed: {}", q(&e.column), e.why);
                }
                None => o.push_str("    # no entity: no id column found; add `entity: <column>` if rows have one\n"),
            }
            let taken: Vec<&str> = [
                Some(time.column.as_str()),
                entity.as_ref().map(|e| e.column.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let dims: Vec<&str> = t
                .schema
                .fields()
                .iter()
                .filter(|f| is_dimension(f.data_type()))
                .map(|f| f.name().as_str())
                .filter(|n| !taken.contains(n) && is_identifier(n) && !n.ends_with("_id"))
                .collect();
            if !dims.is_empty() {
                o.push_str(
                    "    # guessed: the text and true/false columns; keep those with few values\n",
                );
                let _ = writeln!(o, "    dimensions: [{}]", dims.join(", "));
            }
        }
        if sources == 0 {
            o = "sources: {}\n".into();
        }
        let entities: Vec<&Table> = self
            .tables
            .iter()
            .filter(|t| matches!(t.role, Role::Entity { .. }))
            .collect();
        if !entities.is_empty() {
            o.push_str("entities:\n");
            for t in entities {
                let Role::Entity {
                    entity,
                    key,
                    valid_from,
                } = &t.role
                else {
                    continue;
                };
                let _ = writeln!(o, "  {entity}:");
                let _ = writeln!(
                    o,
                    "    description: {}",
                    q(&format!("The {entity} table, {}", t.written))
                );
                let _ = writeln!(o, "    key: {}  # guessed: {}", q(&key.column), key.why);
                let _ = writeln!(o, "    path: {}", q(&t.written));
                if let Some(v) = valid_from {
                    let _ = writeln!(
                        o,
                        "    valid_from: {}  # guessed: rows are versions, each holding from this time",
                        q(v)
                    );
                }
            }
        }
        for t in &self.tables {
            if let Role::Skipped(why) = &t.role {
                let _ = writeln!(o, "# {} ({}) is left out: {why}.", t.name, t.written);
            }
        }
        o
    }

    fn metrics(&self) -> String {
        let mut o = String::from(
            "# First metrics, one or two per source: rename and extend them.\nmetrics:\n",
        );
        let mut any = false;
        for t in &self.tables {
            let Some(m) = t.metrics() else { continue };
            any = true;
            let _ = writeln!(o, "  {}:", m.rows);
            let _ = writeln!(o, "    description: {}", q(&format!("Rows of {}", t.name)));
            let _ = writeln!(o, "    source: {}", t.name);
            o.push_str("    measure: count(*)\n");
            if let Some((name, column)) = &m.entities {
                let _ = writeln!(o, "  {name}:");
                let _ = writeln!(
                    o,
                    "    description: {}",
                    q(&format!(
                        "Distinct {column} values with a row in {}",
                        t.name
                    ))
                );
                let _ = writeln!(o, "    source: {}", t.name);
                let _ = writeln!(o, "    measure: count_distinct({column})");
            }
        }
        if !any {
            o = "metrics: {}\n".into();
        }
        o
    }

    fn tests(&self) -> String {
        let mut o = String::from(
            "# A first test per source: three rows on one day, counted by hand.\n\
             # Copy one to pin what a metric means; docs/TESTING.md has the keys.\n\
             tests:\n",
        );
        let mut any = false;
        let day = self
            .days()
            .map(|(first, _)| first)
            .unwrap_or(NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date"));
        for t in &self.tables {
            let (Some(m), Role::Source { time, entity, .. }) = (t.metrics(), &t.role) else {
                continue;
            };
            // Three rows: the time, the entity (two of them), and every
            // column that may not be null.
            let mut rows = Vec::new();
            let mut writable = true;
            for i in 1..=3 {
                let mut cells = Vec::new();
                for f in t.schema.fields() {
                    let name = f.name();
                    let is_time = *name == time.column;
                    let is_entity = entity.as_ref().is_some_and(|e| e.column == *name);
                    if !(is_time || is_entity || !f.is_nullable()) {
                        continue;
                    }
                    let n = if is_entity { [1, 2, 1][i - 1] } else { i };
                    match fixture_value(f.data_type(), day, n) {
                        Some(v) => cells.push(format!("{}: {}", q(name), q(&v))),
                        None => writable = false,
                    }
                }
                rows.push(format!("        - {{ {} }}", cells.join(", ")));
            }
            if !writable {
                let _ = writeln!(
                    o,
                    "  # no test for {}: a column that may not be null has a type fixtures cannot write",
                    t.name
                );
                continue;
            }
            any = true;
            let _ = writeln!(o, "  - name: {}_counts_its_rows", t.name);
            let mut metrics = vec![m.rows.clone()];
            let mut expect = vec![format!("{}: 3", m.rows)];
            if let Some((name, _)) = &m.entities {
                metrics.push(name.clone());
                expect.push(format!("{name}: 2"));
            }
            let _ = writeln!(o, "    metrics: [{}]", metrics.join(", "));
            let _ = writeln!(o, "    from: {day}");
            let _ = writeln!(o, "    to: {}", day.succ_opt().unwrap_or(day));
            o.push_str("    by: day\n    given:\n");
            let _ = writeln!(o, "      {}:", t.name);
            for r in rows {
                let _ = writeln!(o, "{r}");
            }
            o.push_str("    expect:\n");
            let _ = writeln!(o, "      - {{ day: {day}, {} }}", expect.join(", "));
        }
        if !any {
            o.push_str("  []\n");
        }
        o
    }
}

fn is_dimension(t: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType as D;
    matches!(t, D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Boolean)
        || matches!(t, D::Dictionary(_, v) if matches!(**v, D::Utf8 | D::LargeUtf8 | D::Utf8View))
}
