//! lower: `active` and `churn` metrics as scan groups, and retention tables.
//!
//! An activity group's rows are not source rows but one row per bucket and
//! breakdown values with `__c0..`, the number of entities holding each
//! membership (active in a window, churned, new ...). `metricc_active` gives,
//! per entity, the buckets where its memberships start and stop holding;
//! `metricc_running` sums those changes per breakdown value and runs them
//! over the buckets. So the work is per change, not per entity and bucket,
//! and the values join the grid, ratios and formulas like any measure.

use super::columns::BUCKET;
use super::columns::{BEGUN, COHORT, ENTITY, PERIOD, SIZE, STATE};
use super::expr::{self, Rows};
use super::functions::activity::{ActiveSpec, Calendar, Member, RetentionSpec, Test};
use super::{Ctx, time};
use crate::semantic::kinds::retention::Retention;
use crate::syntax::ast::{self, Grain, PeriodAnchor, Weekday};
use chrono::NaiveDateTime;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, ScalarValue, internal_err};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder, cast, lit, when};

/// The window of a membership, relative to each bucket's end `e`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// `[e - w, e)`, `w` in milliseconds of wall-clock time.
    Trailing(i64),
    /// From the start of the calendar period holding `e`'s last instant.
    ToDate(Grain),
    /// Current `[e - w, e)`, previous `[e - 2w, e - w)`.
    Churn(i64),
}

impl Rule {
    pub fn describe(self) -> String {
        match self {
            Rule::Trailing(ms) => format!("the trailing {}", super::describe_millis(ms)),
            Rule::ToDate(g) => format!("the {} to date", g.as_str()),
            Rule::Churn(ms) => {
                let w = super::describe_millis(ms);
                format!("the trailing {w} against the {w} before")
            }
        }
    }
}

/// What an activity group reads: rows of a source passing `filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub filter: Option<Expr>,
    /// Groups past the first of one filter, when there are more memberships
    /// than one call reports.
    pub part: usize,
}

/// Column of the count of membership `i`.
pub fn member_column(i: usize) -> String {
    format!("__c{i}")
}

fn minus(t: NaiveDateTime, ms: i64) -> NaiveDateTime {
    chrono::Duration::try_milliseconds(ms)
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(NaiveDateTime::MIN)
}

/// The `[p, c, e]` bounds of `rule` for every bucket, in wall-clock microseconds.
pub fn windows(rule: Rule, buckets: &[time::Bucket], week_start: Weekday) -> Vec<[i64; 3]> {
    buckets
        .iter()
        .map(|b| {
            let e = b.end;
            let (p, c) = match rule {
                Rule::Trailing(ms) => (minus(e, ms), minus(e, ms)),
                Rule::ToDate(g) => {
                    let c = time::truncate(g, week_start, e - chrono::Duration::microseconds(1));
                    (c, c)
                }
                Rule::Churn(ms) => (minus(e, ms.saturating_mul(2)), minus(e, ms)),
            };
            [
                time::wall_micros(p),
                time::wall_micros(c),
                time::wall_micros(e),
            ]
        })
        .collect()
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(1)
}

/// The spec of `members` over `buckets`.
pub fn spec(members: &[(Test, Rule)], buckets: &[time::Bucket], week_start: Weekday) -> ActiveSpec {
    let members: Vec<Member> = members
        .iter()
        .map(|(test, rule)| Member {
            test: *test,
            windows: windows(*rule, buckets, week_start),
        })
        .collect();
    let resolution = members
        .iter()
        .flat_map(|m| m.windows.iter().flatten())
        .fold(0, |g, v| gcd(g, *v))
        .max(1);
    ActiveSpec {
        buckets: buckets.iter().map(|b| time::wall_micros(b.start)).collect(),
        members,
        resolution,
        counts: false,
    }
}

/// The group's rows: `__bucket`, the breakdown dimensions, `__m0..`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rows(
    cx: &Ctx,
    activity: &Activity,
    members: &[(Test, Rule)],
    buckets: &[time::Bucket],
    scan: LogicalPlanBuilder,
    time_col: &str,
    time_ty: &DataType,
    entity: &str,
) -> Result<LogicalPlanBuilder> {
    let week_start = cx.model.project.week_start;
    let mut spec = spec(members, buckets, week_start);
    // Without a breakdown the aggregate's groups are entities alone, and
    // it may count the entities of each change itself.
    spec.counts = cx.query.group_by.is_empty();
    let column = expr::column(time_col);
    // Rows from the earliest window any bucket looks at (all history when a
    // membership asks whether the entity was ever active before).
    let history = members.iter().any(|(t, _)| t.needs_history());
    let lower = if history {
        None
    } else {
        spec.members
            .iter()
            .flat_map(|m| {
                m.windows
                    .iter()
                    .map(move |[p, c, _]| if m.test == Test::Active { *c } else { *p })
            })
            .min()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|d| d.naive_utc())
    };
    // `scan` holds events only (`lower::events`): rows with a time and an
    // entity.
    let mut pred = time::in_range(column.clone(), time_ty, cx.tz, lower, cx.query.range.to);
    if let Some(f) = &activity.filter {
        pred = pred.and(f.clone());
    }
    let wall = time::wall_micros_of(column, time_ty, cx.tz);
    let mut keys = vec![expr::column(entity).alias(ENTITY)];
    keys.extend(cx.query.group_by.iter().map(|d| expr::column(d)));
    let dims = || cx.query.group_by.iter().map(|d| expr::column(d));
    // Per entity, where its memberships start and stop holding ...
    let f = || expr::column(STATE);
    let mut changes = vec![
        get_field(f(), "bucket").alias("__idx"),
        get_field(f(), "start").alias("__on"),
        get_field(f(), "stop").alias("__off"),
        get_field(f(), "n").alias("__w"),
    ];
    changes.extend(dims());
    // ... summed per breakdown value and run over the buckets: the counts.
    let running = super::functions::running(
        &super::functions::RunningSpec {
            buckets: spec.buckets.clone(),
            members: members.len(),
        },
        expr::column("__idx"),
        expr::column("__on"),
        expr::column("__off"),
        expr::column("__w"),
    );
    let mut by: Vec<Expr> = dims().collect();
    if by.is_empty() {
        by.push(lit(0i64).alias("__all"));
    }
    let r = || expr::column("__r");
    let mut fields = vec![cast(get_field(r(), "bucket"), time::LOCAL).alias(BUCKET)];
    fields.extend(dims());
    for i in 0..members.len() {
        fields.push(get_field(r(), format!("c{i}")).alias(member_column(i)));
    }
    scan.filter(pred)?
        .aggregate(
            keys,
            vec![super::functions::active(&spec, wall).alias(STATE)],
        )?
        .unnest_column(STATE)?
        .project(changes)?
        .aggregate(by, vec![running.alias("__r")])?
        .unnest_column("__r")?
        .project(fields)
}

/// A retention metric's settings, resolved against its source.
pub(crate) struct RetentionPlan<'a> {
    pub retention: &'a Retention,
    pub source: &'a crate::semantic::model::Source,
    pub table: &'a super::Table,
    pub filter: Option<Expr>,
}

fn calendar(g: Grain, week_start: Weekday) -> Calendar {
    match g {
        Grain::Hour => Calendar::Hour,
        Grain::Day => Calendar::Day,
        Grain::Week => Calendar::Week(time::weekday_index(week_start)),
        Grain::Month => Calendar::Month,
        Grain::Quarter => Calendar::Quarter,
        Grain::Year => Calendar::Year,
    }
}

pub use crate::semantic::kinds::retention::rolling_micros;

/// The retention table: per cohort, breakdown values and period, the
/// cohort's size, the entities whose period had begun, those retained and
/// their share.
pub(crate) fn table(cx: &Ctx, p: &RetentionPlan) -> Result<LogicalPlan> {
    let r = p.retention;
    let tz = cx.tz;
    let range = cx.query.range;
    let week_start = cx.model.project.week_start;
    let Some(entity) = &p.source.entity else {
        return internal_err!("retention on source `{}` without an entity", p.source.name);
    };
    let rows = Rows {
        schema: &p.table.schema,
        tz,
        functions: cx.functions,
    };
    let grain = r.period;
    let rolling = r.anchor == PeriodAnchor::Rolling;
    let spec = RetentionSpec {
        calendar: calendar(grain, week_start),
        periods: r.periods,
        recurring: r.cohort_type == ast::CohortType::Recurring,
        on_or_after: r.matching == ast::RetentionMatch::OnOrAfter,
        rolling: rolling.then(|| rolling_micros(grain)),
        from: time::wall_micros(range.from),
        to: time::wall_micros(range.to),
        to_instant: 0,
        min_occurrences: u32::try_from(r.min_occurrences).unwrap_or(u32::MAX),
    };
    let time_ty = super::time_type(p.source, p.table)?;
    // A date's instant is its wall-clock midnight (as for funnels).
    let spec = RetentionSpec {
        to_instant: if time::is_date(&time_ty) {
            time::wall_micros(range.to)
        } else {
            time::local_to_utc_micros(tz, range.to)
        },
        ..spec
    };
    let column = expr::column(&p.source.time);
    let cohort = rows.lower(&r.cohort)?;
    let returning = rows.lower(&r.returning)?;
    let mut pred = time::in_range(column.clone(), &time_ty, tz, None, range.to)
        // Cohort events from all history (the first one counts); returns
        // only from the range's start, where the earliest cohort begins.
        .and(cohort.clone().or(returning.clone().and(time::in_range(
            column.clone(),
            &time_ty,
            tz,
            Some(range.from),
            range.to,
        ))));
    if let Some(f) = &p.filter {
        pred = pred.and(f.clone());
    }
    let dims = &cx.query.group_by;
    let dim_types = super::dim_types(cx, p.table)?;
    let call = super::functions::retention(
        &spec,
        time::wall_micros_of(column.clone(), &time_ty, tz),
        time::instant_micros(column, &time_ty, tz)?,
        cohort,
        returning,
        dims.iter()
            .map(|d| cast(expr::column(d), DataType::Utf8))
            .collect(),
    );
    let f = || expr::column(STATE);
    let mut fields = vec![
        cast(get_field(f(), "cohort"), time::LOCAL).alias(COHORT),
        get_field(f(), "period").alias(PERIOD),
        get_field(f(), "size").alias("__size"),
        get_field(f(), "eligible").alias("__eligible"),
        get_field(f(), "retained").alias("__retained"),
    ];
    for (i, (d, ty)) in dims.iter().zip(&dim_types).enumerate() {
        let v = get_field(f(), format!("a{i}"));
        let v = if *ty == DataType::Utf8 {
            v
        } else {
            cast(v, ty.clone())
        };
        fields.push(v.alias(d));
    }
    let mut group = vec![expr::column(COHORT), expr::column(PERIOD)];
    group.extend(dims.iter().map(|d| expr::column(d)));
    let counts = p
        .source_scan()?
        .filter(pred)?
        .aggregate(
            vec![expr::column(entity).alias(ENTITY)],
            vec![call.alias(STATE)],
        )?
        .unnest_column(STATE)?
        .project(fields)?
        .aggregate(
            group,
            vec![
                agg::sum(expr::column("__size")).alias(SIZE),
                agg::sum(expr::column("__eligible")).alias("__elig"),
                agg::sum(expr::column("__retained")).alias("__ret"),
            ],
        )?
        .alias("counts")?
        .build()?;

    // The grid: every cohort period of the range, every breakdown value seen,
    // every period 0..=N.
    let grid = super::grid::cohorts(cx, grain, r.periods, &counts)?;
    let mut keys: Vec<&str> = vec![COHORT, PERIOD];
    keys.extend(dims.iter().map(String::as_str));
    let on = super::grid::on("counts", &keys);
    let g = |n: &str| Expr::Column(Column::new(Some("grid"), n));
    let c = |n: &str| Expr::Column(Column::new(Some("counts"), n));
    let zero = |e: Expr| datafusion::functions::expr_fn::coalesce(vec![e, lit(0i64)]);
    let cohort_col = if grain == Grain::Hour {
        g(COHORT)
    } else {
        cast(g(COHORT), DataType::Date32)
    };
    // The cohort's size is the same in every period; a period not begun has
    // no eligible entity, so its counts are null. An empty cohort has no
    // entity to tell: its counts are 0 once the calendar period has begun
    // (as in PostHog), and its rate null (0 / 0).
    let size = zero(c(SIZE));
    let eligible = zero(c("__elig"));
    let begun = eligible
        .clone()
        .gt(lit(0i64))
        .or(size.clone().eq(lit(0i64)).and(g(BEGUN)));
    let retained = when(begun, zero(c("__ret"))).otherwise(lit(ScalarValue::Int64(None)))?;
    let mut select = vec![cohort_col.alias("cohort")];
    let mut order = vec![expr::column("cohort").sort(true, false)];
    for d in dims {
        select.push(g(d).alias(d));
        order.push(expr::column(d).sort(true, false));
    }
    select.push(g(PERIOD).alias("period"));
    order.push(expr::column("period").sort(true, false));
    select.push(size.alias("cohort_size"));
    if rolling {
        select.push(eligible.clone().alias("eligible"));
    }
    select.push(retained.clone().alias("retained"));
    select.push(expr::divide(retained, eligible).alias("retention_rate"));
    grid.join_on(counts, JoinType::Left, on)?
        .project(select)?
        .sort(order)?
        .build()
}

impl RetentionPlan<'_> {
    /// The source's events (`lower::events`).
    fn source_scan(&self) -> Result<LogicalPlanBuilder> {
        super::events(self.source, self.table)
    }
}
