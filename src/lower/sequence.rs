//! lower: funnels and `time_between` as scan groups. All sequences of one
//! source are one group, run in one pass over its events by one funnel
//! aggregate. The rows of such a group are not source rows but outcomes of
//! that aggregate: `__seq` (which sequence), `__bucket`, the breakdown values
//! they are attributed to, `__level` (steps reached), `__n` (entities) and
//! `__t0..` (when, in microseconds). When a value of the group reads the
//! times (a duration), there is one row per sequence, entity and entry
//! period (`__n` is 1); otherwise one per sequence, period, values and
//! level, counted over entities inside the aggregate. Metric values are
//! ordinary aggregates over those rows, each filtered to its sequence.

use super::columns::BUCKET;
use super::columns::{ENTITY, OUTCOMES, STATE};
use super::expr;
use super::functions::Functions;
use super::functions::sweep::{Order, Spec};
use super::functions::{Block, Part, Sequences};
use super::{Ctx, time};
use crate::syntax::ast::{Statistic, TimeUnit};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit, when};

/// Column of the steps an entity's best attempt reached.
pub const LEVEL: &str = "__level";

/// Column of the number of entities a row stands for.
pub const ENTITIES: &str = "__n";

/// Column of the sequence a row is an outcome of (its index in the group).
pub const SEQ: &str = "__seq";

/// Prefix of the step-time columns.
const TIME_PREFIX: &str = "__t";

/// Column of the time step `k` (0-based) was reached.
pub fn time_column(k: usize) -> String {
    format!("{TIME_PREFIX}{k}")
}

/// A sequence as a group key: two metrics with equal sequences share a
/// group. Built by the funnel and `time_between` kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Start bounds are filled in from the run's range when planned.
    pub spec: Spec,
    pub steps: Vec<Expr>,
    pub exclusions: Vec<Expr>,
    pub hold: Vec<String>,
    /// The metric's own filter and those of metrics above it.
    pub filter: Option<Expr>,
    /// Step names, for `explain` and step tables.
    pub names: Vec<String>,
}

/// Microseconds per result unit.
pub fn unit_micros(u: TimeUnit) -> f64 {
    match u {
        TimeUnit::Seconds => 1e6,
        TimeUnit::Minutes => 6e7,
        TimeUnit::Hours => 3.6e9,
        TimeUnit::Days => 8.64e10,
    }
}

/// Entities whose best attempt at sequence `seq` of the group reached at
/// least `k` steps (`k >= 1`): the count and its row filter. Null over no
/// rows: callers coalesce to 0.
pub fn reached(seq: usize, k: usize) -> (Expr, Option<Expr>) {
    let of_seq = expr::column(SEQ).eq(lit(seq as i32));
    let filter = if k > 1 {
        of_seq.and(level_at_least(k))
    } else {
        of_seq
    };
    (agg::sum(expr::column(ENTITIES)), Some(filter))
}

/// Whether aggregates over the group's rows read the step times, so the
/// rows must be one per entity.
pub fn needs_times(aggregates: &[Expr]) -> bool {
    aggregates.iter().any(|a| {
        a.column_refs().iter().any(|c| {
            c.name
                .strip_prefix(TIME_PREFIX)
                .is_some_and(|k| k.parse::<usize>().is_ok())
        })
    })
}

/// The duration from step `a` to step `b` of sequence `seq` in `unit`, over
/// entities that reached `b`.
pub fn duration(
    functions: &Functions,
    stat: Statistic,
    seq: usize,
    a: usize,
    b: usize,
    unit: f64,
) -> (Expr, Option<Expr>) {
    let d = cast(
        expr::column(&time_column(b)) - expr::column(&time_column(a)),
        DataType::Float64,
    ) / lit(unit);
    let e = match stat {
        Statistic::Avg => agg::avg(d),
        Statistic::Median => agg::median(d),
        Statistic::Min => agg::min(d),
        Statistic::Max => agg::max(d),
        Statistic::Percentile(p) => functions.percentile(d, lit(p)),
    };
    let of_seq = expr::column(SEQ).eq(lit(seq as i32));
    (e, Some(of_seq.and(level_at_least(b + 1))))
}

fn level_at_least(k: usize) -> Expr {
    expr::column(LEVEL).gt_eq(lit(k as i32))
}

/// The group's rows: `__seq`, `__bucket`, the breakdown dimensions,
/// `__level`, `__n`, `__t0..`; one per sequence and entity unless `counts`
/// (see the module doc).
#[allow(clippy::too_many_arguments)]
pub fn rows(
    cx: &Ctx,
    seqs: &[Sequence],
    counts: bool,
    scan: LogicalPlanBuilder,
    time_col: &str,
    time_ty: &DataType,
    entity: &str,
    dim_types: &[DataType],
) -> Result<LogicalPlanBuilder> {
    let tz = cx.tz;
    let range = cx.query.range;
    let column = expr::column(time_col);
    let is_date = time::is_date(time_ty);
    let local = time::local_time(column.clone(), time_ty, tz);
    let micros = time::instant_micros(column.clone(), time_ty, tz)?;
    let bound = |t: chrono::NaiveDateTime| {
        if is_date {
            time::wall_micros(t)
        } else {
            time::local_to_utc_micros(tz, t)
        }
    };
    let mut parts = Vec::with_capacity(seqs.len());
    let mut blocks = Vec::with_capacity(seqs.len());
    // Per sequence, the rows of use to it; the scan keeps any of them.
    let mut wanted: Vec<Option<Expr>> = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let mut spec = seq.spec.clone();
        spec.start_from = Some(bound(range.from));
        spec.start_to = Some(bound(range.to));
        let pred = conjunction(mine(&spec, seq, range, &column, time_ty, tz));
        blocks.push(Block {
            mine: pred.clone().unwrap_or(lit(true)),
            exclusions: seq
                .exclusions
                .iter()
                .enumerate()
                .map(|(k, x)| {
                    when(x.clone(), lit(1i64 << k))
                        .otherwise(lit(0i64))
                        .unwrap_or(lit(0i64))
                })
                .reduce(|a, b| a + b)
                .unwrap_or(lit(0i64)),
            steps: seq.steps.clone(),
            holds: seq
                .hold
                .iter()
                .map(|h| cast(expr::column(h), DataType::LargeUtf8))
                .collect(),
        });
        wanted.push(pred);
        parts.push(Part {
            spec,
            holds: seq.hold.len(),
        });
    }
    let bucket = match cx.query.grain {
        Some(g) => time::bucket(g, cx.model.project.week_start, local),
        None => time::wall_lit(range.from),
    };
    let sequences = Sequences {
        parts,
        counts,
        sorted: cx.functions.memory_limited(),
    };
    let steps = sequences
        .parts
        .iter()
        .map(|p| p.spec.steps)
        .max()
        .unwrap_or(0);
    let call = super::functions::funnel(
        &sequences,
        micros,
        cast(bucket, DataType::Int64),
        blocks,
        cx.query
            .group_by
            .iter()
            .map(|d| cast(expr::column(d), DataType::Utf8))
            .collect(),
    );
    let f = || expr::column(STATE);
    let mut fields = vec![
        get_field(f(), "seq").alias(SEQ),
        cast(get_field(f(), "bucket"), time::LOCAL).alias(BUCKET),
        get_field(f(), "level").alias(LEVEL),
        get_field(f(), "n").alias(ENTITIES),
    ];
    for (i, (d, ty)) in cx.query.group_by.iter().zip(dim_types).enumerate() {
        let v = get_field(f(), format!("a{i}"));
        let v = if *ty == DataType::Utf8 {
            v
        } else {
            cast(v, ty.clone())
        };
        fields.push(v.alias(d));
    }
    for k in 0..steps {
        fields.push(get_field(f(), format!("t{k}")).alias(time_column(k)));
    }
    // `scan` holds events only (`lower::events`): rows with a time and an
    // entity. A sequence that wants every row makes the scan keep all.
    let keep: Option<Vec<Expr>> = wanted.into_iter().collect();
    let scan = match keep.and_then(|w| w.into_iter().reduce(Expr::or)) {
        Some(p) => scan.filter(p)?,
        None => scan,
    };
    scan.aggregate(
        vec![expr::column(entity).alias(ENTITY)],
        vec![call.alias(STATE)],
    )?
    .unnest_column(STATE)?
    .project(fields)?
    // Named, so that tables running the same sequences share the pass
    // (`Engine::once`).
    .alias(OUTCOMES)
}

/// The rows sequence `seq` (with `spec`, its bounds set) can use: in time
/// for an attempt that starts in the range, under its filter, and (unless
/// strict, where every event breaks an attempt) matching a step or an
/// exclusion.
fn mine(
    spec: &Spec,
    seq: &Sequence,
    range: super::Range,
    column: &Expr,
    time_ty: &DataType,
    tz: chrono_tz::Tz,
) -> Vec<Expr> {
    let lower = if spec.first_only {
        None
    } else {
        Some(range.from)
    };
    // Rounded up: an exclusive edge's window is 1µs short of whole ms.
    let upper = chrono::Duration::try_milliseconds(spec.window.saturating_add(999) / 1000)
        .and_then(|w| range.to.checked_add_signed(w))
        .filter(|_| spec.window < i64::MAX / 4);
    let mut pred: Vec<Expr> = Vec::new();
    if let Some(upper) = upper {
        pred.push(time::in_range(column.clone(), time_ty, tz, lower, upper));
    } else if let Some(lower) = lower {
        let far = chrono::NaiveDate::from_ymd_opt(9000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or(range.to);
        pred.push(time::in_range(
            column.clone(),
            time_ty,
            tz,
            Some(lower),
            far,
        ));
    }
    if let Some(f) = &seq.filter {
        pred.push(f.clone());
    }
    // Strict orders see every event: one that matches no step breaks them.
    if !matches!(spec.order, Order::Strict | Order::StrictOrder) {
        let useful = seq
            .steps
            .iter()
            .chain(&seq.exclusions)
            .cloned()
            .reduce(Expr::or);
        pred.extend(useful);
    }
    pred
}
