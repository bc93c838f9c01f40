//! `metricc explain`: what metrics mean in words, then their plans, or SQL.

use super::ExitStatus;
use super::request::{self, Prepared, QueryArgs};
use crate::diagnostics::{Code, Diagnostic};
use crate::engine::{self, Engine, data_error};
use crate::lower::{self, Lowered, sql::Dialect};
use crate::semantic::model::Metric;
use crate::span::Span;
use crate::syntax::ast::{
    ActiveWindow, Attribution, ChurnValue, CohortType, Funnel, FunnelOrder, FunnelValue, Grain,
    MetricKind, Occurrence, PeriodAnchor, RetentionMatch, Statistic,
};
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
            .partition(|n| !uses_sequence(&p.model, n));
        if !left.is_empty() && (!args.metrics.is_empty() || keep.is_empty()) {
            let first = p.model.metric(&left[0]).map(|m| m.span);
            let mut d = Diagnostic::new(
                Code::NoPortableSql,
                format!("`{}` has no SQL form", left[0]),
            )
            .with_help(
                "funnels, time_between, active, churn, retention and cohort metrics run in \
                 metricc's own per-entity engines; `metricc explain` without `--sql` shows their plan",
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

/// Whether `name` is, or uses, a funnel or `time_between` metric.
fn uses_sequence(model: &crate::semantic::model::Model, name: &str) -> bool {
    model.metric(name).is_some_and(|m| {
        matches!(
            m.kind,
            MetricKind::Funnel(_)
                | MetricKind::TimeBetween { .. }
                | MetricKind::Active { .. }
                | MetricKind::Churn { .. }
                | MetricKind::Retention(_)
                | MetricKind::Cohort(_)
        ) || m.depends_on.iter().any(|d| uses_sequence(model, &d.value))
    })
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
    match &m.kind {
        MetricKind::Aggregate { measure } => {
            let _ = writeln!(out, "  measure   {}", text(p, measure.span));
        }
        MetricKind::Ratio {
            numerator,
            denominator,
        } => {
            let _ = writeln!(
                out,
                "  ratio     {} / {} per bucket and breakdown (a ratio of totals, not an average of ratios); null when the denominator is 0",
                numerator.value, denominator.value
            );
        }
        MetricKind::Formula { expr } => {
            let _ = writeln!(
                out,
                "  formula   {}, over metrics joined on bucket and breakdown; division by 0 gives null",
                text(p, expr.span)
            );
        }
        MetricKind::Cumulative {
            metric,
            window,
            to_date,
        } => {
            let how = match (window, to_date) {
                (Some(w), _) => format!(
                    "over the trailing {} ending at each bucket's end (local time)",
                    w.value.text
                ),
                (None, Some(g)) => format!(
                    "from the start of the {} holding each bucket's end",
                    g.value.as_str()
                ),
                (None, None) => {
                    "over all rows before each bucket's end, including rows before the range".into()
                }
            };
            let _ = writeln!(out, "  running   total of `{}` {how}", metric.value);
        }
        MetricKind::Funnel(f) => describe_funnel(p, f, &mut out),
        MetricKind::TimeBetween {
            from,
            to,
            statistic,
            unit,
            within,
        } => {
            let _ = writeln!(
                out,
                "  from      {} — each entity's first such event over all time; it enters the bucket it falls in, if in the range",
                text(p, from.span)
            );
            let _ = writeln!(
                out,
                "  to        {} — the first such event at or after it (the same event counts: 0){}",
                text(p, to.span),
                within
                    .as_ref()
                    .map(|w| format!(", at most {} later (inclusive)", w.value.text))
                    .unwrap_or_default()
            );
            let stat = match statistic.value {
                Statistic::Avg => "mean".to_string(),
                Statistic::Median => "median (the mean of the middle two for an even count)".into(),
                Statistic::Min => "minimum".into(),
                Statistic::Max => "maximum".into(),
                Statistic::Percentile(q) => {
                    format!(
                        "{}th percentile (interpolated, like quantile_cont)",
                        q * 100.0
                    )
                }
            };
            let _ = writeln!(
                out,
                "  value     {stat} of the durations in {}, over entities with both events",
                unit.value.as_str()
            );
        }
        MetricKind::Active { window } => {
            let w = match window {
                ActiveWindow::Rolling(w) => format!(
                    "the trailing {} of local wall-clock time ending at each bucket's end, [end - {}, end): rolling, not calendar",
                    w.value.text, w.value.text
                ),
                ActiveWindow::Calendar(g) => format!(
                    "the calendar {} holding each bucket's last instant, from its start to the bucket's end ({}-to-date)",
                    g.value.as_str(),
                    g.value.as_str()
                ),
            };
            let _ = writeln!(
                out,
                "  active    distinct entities with a matching row in {w}"
            );
            let _ = writeln!(
                out,
                "  edges     a row exactly at the window's start counts, one exactly at its end does not; windows count local days (a DST day is 23 or 25 hours); without --by the one window ends at the range's end"
            );
            let _ = writeln!(
                out,
                "  breakdown an entity counts once under every breakdown value it had a row with"
            );
        }
        MetricKind::Churn { window, value } => {
            let w = &window.value.text;
            let _ = writeln!(
                out,
                "  windows   current [end - {w}, end) and previous [end - 2×{w}, end - {w}) at each bucket's end, local wall-clock time"
            );
            let what = match value.value {
                ChurnValue::Churned | ChurnValue::Dormant => {
                    "entities active in the previous window and not in the current one"
                }
                ChurnValue::Rate => {
                    "churned / entities active in the previous window (null when none were)"
                }
                ChurnValue::New => {
                    "entities active in the current window and never before it (all history is read)"
                }
                ChurnValue::Returning => "entities active in both windows",
                ChurnValue::Resurrected => {
                    "entities active in the current window, not the previous one, but before it"
                }
                ChurnValue::NetGrowth => {
                    "new - churned (resurrected entities are not counted; active(current) - active(previous) = new + resurrected - churned)"
                }
            };
            let _ = writeln!(out, "  value     {what}");
        }
        MetricKind::Retention(r) => {
            let g = r.period.value.as_str();
            let _ = writeln!(
                out,
                "  cohort    {} — {}; cohorts are calendar {g}s of the cohort event, in the range",
                text(p, r.cohort.span),
                match r.cohort_type.value {
                    CohortType::FirstTime => "each entity's first such event over all time",
                    CohortType::Recurring => "the first such event of every period that has one",
                }
            );
            let period = match r.anchor.value {
                PeriodAnchor::Calendar => format!(
                    "period k is the calendar {g} k after the cohort's; period 0 counts returns at or after the cohort event"
                ),
                PeriodAnchor::Rolling => format!(
                    "period k is [k, k+1) × {} of elapsed time from the cohort event",
                    lower::describe_millis(lower::activity::rolling_micros(r.period.value) / 1000)
                ),
            };
            let _ = writeln!(
                out,
                "  return    {} — {}; periods 0 to {}; {period}",
                text(p, r.returning.span),
                match r.matching.value {
                    RetentionMatch::On => "retained at k: a return in period k",
                    RetentionMatch::OnOrAfter =>
                        "retained at k: a return in period k or any later one",
                },
                r.periods.value
            );
            let _ = writeln!(
                out,
                "  reads     rows before the range's end only: a period not begun by then is null; --by does not change the cohort periods; a breakdown takes the cohort event's values"
            );
        }
        MetricKind::Cohort(c) => {
            let _ = writeln!(
                out,
                "  cohort    {} on `{}` — each entity's first such event over all time, in the range; breakdown values from that event",
                text(p, c.event.span),
                c.cohort_source
                    .as_ref()
                    .map(|s| s.value.as_str())
                    .or(m.source.as_deref())
                    .unwrap_or("?")
            );
            let g = c.period.value.as_str();
            let _ = writeln!(
                out,
                "  value     `{}` over the entity's rows from the cohort event on, for {} calendar {g}s starting with the cohort event's (and before the range's end){}",
                c.metric.value,
                c.periods.value,
                if c.per_entity {
                    ", divided by the cohort's size"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "  buckets   the column: by the bucket of the cohort event; the table: by cohort {g} and {g}s since{}",
                if c.cumulative {
                    ", cumulative over the periods up to each"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(s) = m.source.as_ref().and_then(|s| p.model.source(s)) {
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
        let scope = if m.source.is_some() {
            "rows"
        } else {
            "rows of every source underneath"
        };
        let _ = writeln!(out, "  filter    {} (on the {scope})", text(p, f.span));
    }
    match m.occurrence {
        Occurrence::All => {}
        Occurrence::First => {
            let _ = writeln!(
                out,
                "  rows      only each entity's first matching row over all time (ties: every row at that instant)"
            );
        }
        Occurrence::Last => {
            let _ = writeln!(
                out,
                "  rows      only each entity's last matching row over all time (ties: every row at that instant)"
            );
        }
    }
    out
}

fn describe_funnel(p: &Prepared, f: &Funnel, out: &mut String) {
    for (i, step) in f.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  step {}    {}: {}{}",
            i + 1,
            step.name.value,
            text(p, step.predicate.span),
            step.within
                .as_ref()
                .map(|w| format!(" (within {} of the step before)", w.value.text))
                .unwrap_or_default()
        );
    }
    let order = match f.order.value {
        FunnelOrder::Ordered => {
            "ordered: each step is the first matching event after the step before; other events may come between"
        }
        FunnelOrder::Strict => {
            "strict: each step must be the very next event of the entity (after the filter); any other event ends the attempt"
        }
        FunnelOrder::Any => {
            "any: an attempt starts at any step's event; it reaches level k when k distinct steps happened in its window"
        }
    };
    let _ = writeln!(out, "  order     {order}");
    let _ = writeln!(
        out,
        "  window    {} from the attempt's first event, edge inclusive; the range bounds where attempts start, not where they end",
        f.within.value.text
    );
    let reuse = f.reuse_events.as_ref().is_some_and(|r| r.value);
    let _ = writeln!(
        out,
        "  attempts  one per step-1 event; per entity and entry bucket the best counts: the most steps, then the latest start; ties at one instant take lower steps first; {}",
        if reuse {
            "one event may satisfy consecutive steps (reuse_events)"
        } else {
            "each event satisfies at most one step"
        }
    );
    for x in &f.exclude {
        let _ = writeln!(
            out,
            "  exclude   {} after `{}` and before `{}` disqualifies the attempt",
            text(p, x.predicate.span),
            x.after.value,
            x.before.value
        );
    }
    if !f.hold_constant.is_empty() {
        let names: Vec<&str> = f.hold_constant.iter().map(|h| h.value.as_str()).collect();
        let _ = writeln!(
            out,
            "  hold      {}: the funnel runs separately per value (null is a value); the best attempt over them counts",
            names.join(", ")
        );
    }
    let attribution = match (&f.attribution_step, f.attribution.as_ref().map(|a| a.value)) {
        (Some(s), _) => format!("the event of step `{}` (null when not reached)", s.value),
        (None, Some(Attribution::LastStep)) => "the event of the last step reached".into(),
        _ => "the step-1 event".into(),
    };
    let _ = writeln!(out, "  breakdown values come from {attribution}");
    let value = match f.value.value {
        FunnelValue::Steps => {
            "a step table: entities reaching each step, conversion from the step before and from step 1, hours between steps"
        }
        FunnelValue::Entered => "entities that entered (reached step 1)",
        FunnelValue::Converted => "entities that reached the last step",
        FunnelValue::ConversionRate => {
            "entities that reached the last step / entities that entered; null when none entered"
        }
    };
    let _ = writeln!(out, "  value     {value}");
}
