//! `metricc explain`: what metrics mean in words, then their plans, or SQL.

use super::ExitStatus;
use super::request::{self, Prepared, QueryArgs};
use crate::diagnostics::{Code, Diagnostic};
use crate::engine::{self, Engine, data_error};
use crate::lower::{self, Lowered, sql::Dialect};
use crate::semantic::model::Metric;
use crate::span::Span;
use crate::syntax::ast::Grain;
use std::fmt::Write as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Metrics to explain. Default: every metric the version can compute.
    pub metrics: Vec<String>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Also print the plan after DataFusion's optimizer.
    #[arg(long)]
    pub optimized: bool,
    /// Also print the physical plan.
    #[arg(long)]
    pub physical: bool,
    /// Print SQL for the whole query instead, through DataFusion's unparser.
    #[arg(long)]
    pub sql: bool,
    /// SQL dialect for `--sql`.
    #[arg(long, value_enum, default_value_t = Dialect::Duckdb)]
    pub dialect: Dialect,
    /// Plan as `run --memory-limit` would: the physical plan differs (a run
    /// also executes each scan group on its own, which is not shown).
    #[arg(long, value_parser = super::run::parse_bytes)]
    pub memory_limit: Option<usize>,
    /// Plan for this many threads, as `run --threads` would.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Plan as `run --cluster` would: the plans built for a Ballista
    /// cluster, and with `--physical` the stages its scheduler cuts them
    /// into (docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "URL", value_parser = super::run::cluster)]
    pub cluster: Option<crate::cluster::Cluster>,
}

pub fn explain(args: &Args) -> ExitStatus {
    let p = match request::prepare(&args.query, &args.metrics) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let color = args.query.color;
    let engine = match Engine::new(&engine::Options {
        threads: args.threads,
        memory_limit: args.memory_limit,
        #[cfg(feature = "distributed")]
        cluster: args.cluster.clone(),
        ..Default::default()
    }) {
        Ok(e) => e,
        Err(e) => return p.report(color, data_error(None, e)),
    };
    let mut p = p;
    if args.sql {
        // Funnels and time_between run in metricc's sequence engine, which
        // has no portable SQL: leave them out, or refuse when named.
        let (keep, left): (Vec<String>, Vec<String>) = p
            .query
            .metrics
            .iter()
            .cloned()
            .partition(|n| !without_sql(&p.model, n));
        if !left.is_empty() && (!args.metrics.is_empty() || keep.is_empty()) {
            let first = p.model.metric(&left[0]).map(|m| m.span);
            let mut d = Diagnostic::new(
                Code::NoPortableSql,
                format!("`{}` has no SQL form", left[0]),
            )
            .with_help(
                "funnels, time_between, active, churn, retention, cohort, conversion and sequence \
                 metrics run in metricc's own per-entity engines; `metricc explain` without `--sql` \
                 shows their plan",
            );
            if let Some(span) = first {
                d = d.at(span, "computed per entity by metricc's own engine");
            }
            return p.report(color, d);
        }
        if !left.is_empty() {
            eprintln!(
                "note: left out of the SQL (no SQL form, computed per entity by metricc's engines): {}",
                left.join(", ")
            );
        }
        p.query.metrics = keep;
    }
    let lowered = match engine.plan(&p.model, &p.query) {
        Ok(l) => l,
        Err(f) => return p.failed(color, f),
    };
    let mut out = String::new();
    if args.sql {
        let Some(main) = lowered.tables.first() else {
            return request::internal("planned no table for SQL");
        };
        match lower::sql::to_sql(&main.plan, &p.model, args.dialect) {
            Ok(sql) => out.push_str(&sql),
            Err(e) => {
                eprintln!("error: DataFusion's unparser cannot write this plan as SQL: {e}");
                return ExitStatus::Internal;
            }
        }
        print!("{out}");
        return ExitStatus::Ok;
    }
    out.push_str(&describe(&p, &lowered));
    for t in &lowered.tables {
        let title = match &t.metric {
            None => "Logical plan".to_string(),
            Some(_) => format!("Logical plan of the table \"{}\"", t.title),
        };
        let _ = writeln!(
            out,
            "\n{title}:\n{}",
            indent(&t.plan.display_indent().to_string())
        );
        if args.optimized || args.physical {
            match engine.optimize(&t.plan) {
                Ok(opt) => {
                    if args.optimized {
                        let _ = writeln!(
                            out,
                            "\nOptimized logical plan:\n{}",
                            indent(&opt.display_indent().to_string())
                        );
                    }
                    #[cfg(feature = "distributed")]
                    if args.physical && args.cluster.is_some() {
                        match engine.stages(&opt) {
                            Ok(stages) => {
                                let _ = writeln!(
                                    out,
                                    "\nStages on the cluster ({}; the last one's output is the result):",
                                    stages.len()
                                );
                                for (i, text) in stages.iter().enumerate() {
                                    let _ = writeln!(
                                        out,
                                        "\n  Stage {}:\n{}",
                                        i + 1,
                                        indent(&indent(text))
                                    );
                                }
                                continue;
                            }
                            Err(e) => return p.report(color, data_error(None, e)),
                        }
                    }
                    if args.physical {
                        match engine.physical(&opt) {
                            Ok(phys) => {
                                let text = datafusion::physical_plan::displayable(phys.as_ref())
                                    .indent(true)
                                    .to_string();
                                let _ = writeln!(out, "\nPhysical plan:\n{}", indent(&text));
                            }
                            Err(e) => return p.report(color, data_error(None, e)),
                        }
                    }
                }
                Err(e) => return p.report(color, data_error(None, e)),
            }
        }
    }
    print!("{out}");
    ExitStatus::Ok
}

/// Whether `name` has no portable SQL form: its kind runs in one of
/// metricc's per-entity engines, or it uses a metric that does.
fn without_sql(model: &crate::semantic::model::Model, name: &str) -> bool {
    model
        .metric(name)
        .is_some_and(|m| !m.shape.sql || m.depends_on.iter().any(|d| without_sql(model, &d.value)))
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// The query and every metric, in words.
fn describe(p: &Prepared, lowered: &Lowered) -> String {
    let project = &p.model.project;
    let q = &p.query;
    let tz = project.time_zone.name();
    let mut out = String::new();
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    let _ = writeln!(out, "Query");
    let _ = writeln!(
        out,
        "  range     {} <= local time < {} in {tz} (half-open; {})",
        fmt(q.range.from),
        fmt(q.range.to),
        p.range_origin
    );
    let buckets = match q.grain {
        None => "none: one total per metric over the range".to_string(),
        Some(g) => bucket_rule(g, tz, project.week_start.as_str()),
    };
    let _ = writeln!(out, "  buckets   {buckets}");
    if q.group_by.is_empty() {
        let _ = writeln!(out, "  breakdown none");
    } else {
        let _ = writeln!(
            out,
            "  breakdown {}: a row for every bucket and every combination of values seen in the range (null is a value)",
            q.group_by.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  empty     a bucket without rows gives 0 for count, count_distinct and sum; null for other aggregates and for division by 0"
    );
    for line in attribute_lines(p, lowered) {
        let _ = writeln!(out, "  attributes {line}");
    }
    for name in &q.metrics {
        if let Some(m) = p.model.metric(name) {
            out.push('\n');
            out.push_str(&describe_metric(p, m));
        }
    }
    let _ = writeln!(out, "\nScan groups (one scan and one aggregation each)");
    for g in &lowered.groups {
        let _ = writeln!(
            out,
            "  {}  source `{}`, {}: {} aggregate{} for {}",
            g.alias,
            g.source,
            g.how,
            g.aggregates,
            if g.aggregates == 1 { "" } else { "s" },
            g.metrics.join(", ")
        );
    }
    out
}

/// What each entity whose attributes the plans read gives the rows.
fn attribute_lines(p: &Prepared, lowered: &Lowered) -> Vec<String> {
    use crate::lower::attributes;
    let mut entities = Vec::new();
    let mut used = std::collections::HashSet::new();
    for t in &lowered.tables {
        attributes::used_entities(&t.plan, &mut entities);
        used.extend(attributes::used_columns(&t.plan));
    }
    entities
        .iter()
        .filter_map(|name| p.model.entity(name))
        .map(|e| {
            let names: Vec<String> = e
                .attributes
                .iter()
                .map(|a| e.qualified(a))
                .filter(|a| used.contains(a))
                .collect();
            let rule = match &e.valid_from {
                Some(v) => format!(
                    "the version of the row's {} at the row's time (the latest `{v}` at or before it)",
                    e.key
                ),
                None => format!("the table's row with the row's `{}`", e.key),
            };
            format!(
                "{} from entity `{}`: {rule}; a row without one has nulls",
                names.join(", "),
                e.name
            )
        })
        .collect()
}

fn bucket_rule(g: Grain, tz: &str, week_start: &str) -> String {
    match g {
        Grain::Hour => format!(
            "by hour of local wall-clock time in {tz}: the repeated hour of a fall-back change is one bucket of two hours; the skipped hour of a spring-forward change has no rows"
        ),
        Grain::Day => format!(
            "by local calendar day in {tz}, 00:00 to 00:00: a day of 23 or 25 hours across a daylight-saving change is one bucket"
        ),
        Grain::Week => format!("by week starting {week_start} 00:00 local time in {tz}"),
        Grain::Month => format!("by calendar month, local time in {tz}"),
        Grain::Quarter => {
            format!("by calendar quarter (January, April, July, October), local time in {tz}")
        }
        Grain::Year => format!("by calendar year, local time in {tz}"),
    }
}

fn text(p: &Prepared, span: Span) -> String {
    let file = p.checked.sources.get(span.file);
    file.text
        .get(span.start as usize..span.end as usize)
        .unwrap_or("?")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_metric(p: &Prepared, m: &Metric) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {}",
        m.name,
        m.description.as_deref().unwrap_or("(no description)")
    );
    let d = m.kind.describe(&|span| text(p, span));
    for line in &d.lines {
        let _ = writeln!(out, "{line}");
    }
    // The unit its numbers are labelled with (the report's axes).
    let unit = crate::report::units::Display::of(&p.model, m);
    match (m.kind.unit(), unit.words.is_empty()) {
        (Some(crate::semantic::kinds::Unit::Share), _) => {
            let _ = writeln!(out, "  unit      a share (a fraction; the report shows %)");
        }
        (Some(_), false) => {
            let declared = if m.unit.is_some() {
                ""
            } else {
                " (from the kind or the metric it restates)"
            };
            let _ = writeln!(out, "  unit      {}{declared}", unit.words);
        }
        _ => {}
    }
    if let Some(s) = m.source().and_then(|s| p.model.source(s)) {
        let files = s.schema.files.len();
        let _ = writeln!(
            out,
            "  source    `{}` ({files} Parquet file{}); time column `{}`{}",
            s.name,
            if files == 1 { "" } else { "s" },
            s.time,
            s.entity
                .as_ref()
                .map(|e| format!(", entity `{e}`"))
                .unwrap_or_default()
        );
    }
    if let Some(f) = &m.filter {
        let scope = if m.source().is_some() {
            "rows"
        } else {
            "rows of every source underneath"
        };
        let _ = writeln!(out, "  filter    {} (on the {scope})", text(p, f.span));
    }
    for line in &d.after {
        let _ = writeln!(out, "{line}");
    }
    let project = &p.model.project;
    let limit = |share: f64| {
        let text = format!("{:.4}", share * 100.0);
        format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
    };
    if let Some(l) = project.max_change_by_metric.get(&m.name) {
        let _ = writeln!(
            out,
            "  diff      `metricc diff` exits 1 when a value moves by more than {} (its own limit in `diff.metrics`)",
            limit(*l)
        );
    } else if let Some(l) = project.max_change {
        let _ = writeln!(
            out,
            "  diff      `metricc diff` exits 1 when a value moves by more than {} (the project's `diff.max_change`)",
            limit(l)
        );
    }
    out
}
