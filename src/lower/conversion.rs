//! lower: the row producer of conversion metrics. A source's base events
//! (in the range) and conversion events (from the range's start to its end
//! plus the window) in one stream per entity (and constant properties), in
//! time order, base events first at one instant; each conversion takes the
//! most recent base event before it (running maxima of the base events'
//! instant and bucket; with a breakdown, also `last_value ... IGNORE NULLS`
//! over a struct of the breakdown values that only base rows have) and
//! keeps it when it is less than the window later. Out come the base rows and the credited
//! conversions, each with its base's bucket and breakdown values, which the
//! group counts.
//!
//! Base events before the range cannot change a count: a conversion whose
//! most recent base is before the range is not counted either way. Base
//! events after the range's end can: a conversion after one of them is
//! credited to it, not to an earlier base of the range. So base events are
//! read up to the last conversion read, marked whether they are in the
//! range, and only those that are count, as opportunities and as credited
//! bases.

use super::Ctx;
use super::columns::BUCKET;
use super::expr;
use super::time;
use crate::semantic::model::Source;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, cast, lit, when};

/// Whether a row is a base event (0) or a credited conversion (1).
pub const KIND: &str = "__k";
/// The row's entity, for counts of distinct entities.
pub const ENTITY: &str = "__e";

/// What a conversion group reads: the lowered predicates, the metric's
/// filter (on base events only), the window in microseconds (`None`:
/// unbounded) and the columns a conversion shares with its base.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionKey {
    pub base: Expr,
    /// The source of the conversion events (the group's own, or another).
    pub conversion_source: String,
    pub conversion: Expr,
    /// The column of the conversion's rows that holds the base's entity.
    pub conversion_entity: String,
    pub filter: Option<Expr>,
    pub within_micros: Option<i64>,
    /// Pairs of columns, the base's and the conversion's.
    pub constant: Vec<(String, String)>,
}

impl ConversionKey {
    /// The producer in words; `source` is the group's (the base's).
    pub fn describe(&self, source: &str) -> String {
        let other = if self.conversion_source == source {
            String::new()
        } else {
            format!(
                " (conversions of `{}`, whose `{}` is the base's entity)",
                self.conversion_source, self.conversion_entity
            )
        };
        format!(
            "base events and the conversions credited to each entity's most recent one{other}{}{}",
            match self.within_micros {
                Some(w) => format!(
                    ", within {} (edge exclusive)",
                    crate::lower::describe_millis(w / 1000)
                ),
                None => ", unbounded".into(),
            },
            if self.constant.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = self.constant.iter().map(|(b, _)| b.as_str()).collect();
                format!(", same {}", names.join(", "))
            }
        )
    }
}

/// The rows of a conversion group: `__bucket`, the breakdown dimensions,
/// `__k` and `__e`.
pub(super) fn rows(
    cx: &Ctx,
    key: &ConversionKey,
    source: &Source,
    table: &super::Table,
    time_ty: &DataType,
) -> Result<LogicalPlanBuilder> {
    let Some(entity) = &source.entity else {
        return datafusion::common::internal_err!(
            "a conversion on source `{}` without an entity",
            source.name
        );
    };
    let range = cx.query.range;
    let dims = &cx.query.group_by;
    let time_col = expr::column(&source.time);
    let (Some(conv_source), Some(conv_table)) = (
        cx.model.source(&key.conversion_source),
        cx.tables.get(&key.conversion_source),
    ) else {
        return datafusion::common::internal_err!(
            "no source `{}` for conversions",
            key.conversion_source
        );
    };
    let conv_time_ty = super::time_type(conv_source, conv_table)?;
    // Both sides on one clock: instants, or local wall-clock time when
    // either source keeps dates (a local day has no instant of its own).
    let on_wall = time::is_date(time_ty) || time::is_date(&conv_time_ty);
    let micros = |column: Expr, ty: &DataType| -> Result<Expr> {
        if on_wall {
            Ok(time::wall_micros_of(column, ty, cx.tz))
        } else {
            time::instant_micros(column, ty, cx.tz)
        }
    };
    let instant = micros(time_col.clone(), time_ty)?;
    let local = time::local_time(time_col.clone(), time_ty, cx.tz);
    let bucket = match cx.query.grain {
        Some(g) => time::bucket(g, cx.model.project.week_start, local),
        None => time::wall_lit(range.from),
    };
    let dim_types = super::dim_types(cx, table)?;
    let constant = |i: usize| format!("__p{i}");

    // Conversion events that a base event of the range can be credited
    // with come from the range's start to before its end plus the window;
    // base events are read over the same span, to credit each conversion
    // to its most recent one.
    // The window is wall-clock time added to the range's end here, and
    // instants later on: two hours more cover a daylight-saving change in
    // between (reading more only costs rows; the window is checked on
    // instants below).
    let end = match key.within_micros {
        Some(w) => range
            .to
            .checked_add_signed(chrono::Duration::microseconds(
                w.saturating_add(7_200_000_000),
            ))
            .unwrap_or(chrono::NaiveDateTime::MAX),
        None => chrono::NaiveDateTime::MAX,
    };
    let in_range = time::in_range(time_col.clone(), time_ty, cx.tz, Some(range.from), range.to);
    let mut base_pred = time::in_range(time_col.clone(), time_ty, cx.tz, Some(range.from), end)
        .and(key.base.clone());
    if let Some(f) = &key.filter {
        base_pred = base_pred.and(f.clone());
    }
    // The ids of both sides, and each pair of constant properties, in a
    // type both fit (check made sure they compare): an Int32 id meets an
    // Int64 one as Int64, not cast down where it would not fit.
    let type_of = |t: &super::Table, c: &str| -> Result<DataType> {
        Ok(t.schema.field_with_unqualified_name(c)?.data_type().clone())
    };
    let common = |a: DataType, b: DataType| comparison_coercion(&a, &b).unwrap_or(a);
    let entity_ty = common(
        type_of(table, entity)?,
        type_of(conv_table, &key.conversion_entity)?,
    );
    let constant_tys = key
        .constant
        .iter()
        .map(|(b, c)| Ok(common(type_of(table, b)?, type_of(conv_table, c)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut base_cols = vec![
        cast(expr::column(entity), entity_ty.clone()).alias(ENTITY),
        instant.clone().alias("__t"),
        lit(0i32).alias(KIND),
        cast(bucket, time::LOCAL).alias("__b"),
        in_range.alias("__in"),
    ];
    for d in dims {
        base_cols.push(expr::column(d).alias(d));
    }
    for (i, (c, _)) in key.constant.iter().enumerate() {
        base_cols.push(cast(expr::column(c), constant_tys[i].clone()).alias(constant(i)));
    }
    let base = super::events(source, table)?
        .filter(base_pred)?
        .project(base_cols)?;

    // The conversion events, of this source or another: the entity is the
    // column that holds the base's ids, and each constant property is cast
    // to its base column's type (check made sure they compare).
    let conv_time = expr::column(&conv_source.time);
    let conv_instant = micros(conv_time.clone(), &conv_time_ty)?;
    // A conversion without an entity, or whose constant property is null,
    // matches no base event (as in MetricFlow's equality join), so it is
    // not read.
    let conv_entity = expr::column(&key.conversion_entity);
    let mut conv_pred = time::in_range(conv_time, &conv_time_ty, cx.tz, Some(range.from), end)
        .and(key.conversion.clone())
        .and(conv_entity.clone().is_not_null());
    for (_, c) in &key.constant {
        conv_pred = conv_pred.and(expr::column(c).is_not_null());
    }
    let mut conv_cols = vec![
        cast(conv_entity, entity_ty).alias(ENTITY),
        conv_instant.alias("__t"),
        lit(1i32).alias(KIND),
        cast(lit(ScalarValue::Null), time::LOCAL).alias("__b"),
        lit(ScalarValue::Boolean(None)).alias("__in"),
    ];
    for (d, ty) in dims.iter().zip(&dim_types) {
        conv_cols.push(cast(lit(ScalarValue::Null), ty.clone()).alias(d));
    }
    for (i, (_, c)) in key.constant.iter().enumerate() {
        conv_cols.push(cast(expr::column(c), constant_tys[i].clone()).alias(constant(i)));
    }
    let conv = super::events(conv_source, conv_table)?
        .filter(conv_pred)?
        .project(conv_cols)?;

    // Each row's most recent base event at or before it: the last base row
    // of its entity (and constant properties) in the stream's order, found
    // by one pass over the stream sorted by entity, time, kind and the
    // breakdown values (`metricc_credit`, whose module says why it is not
    // DataFusion's windows partitioned by entity). Base events come before
    // conversions at one instant (a conversion at its base's instant
    // counts); among base events at one instant the last in this order is
    // credited.
    let is_base = expr::column(KIND).eq(lit(0i32));
    let mut keys = vec![expr::column(ENTITY)];
    keys.extend((0..key.constant.len()).map(|i| expr::column(&constant(i))));
    let mut order: Vec<_> = keys.iter().map(|k| k.clone().sort(true, false)).collect();
    order.push(expr::column("__t").sort(true, false));
    order.push(expr::column(KIND).sort(true, false));
    order.extend(dims.iter().map(|d| expr::column(d).sort(true, true)));
    let past = when(expr::column("__in"), lit(0i32)).otherwise(lit(1i32))?;
    let mut names = vec!["t".to_string(), "b".to_string(), "past".to_string()];
    let mut args = vec![expr::column(KIND)];
    args.extend(keys.iter().cloned());
    args.extend([expr::column("__t"), expr::column("__b"), past]);
    for (i, d) in dims.iter().enumerate() {
        names.push(format!("d{i}"));
        args.push(expr::column(d));
    }
    let union = base.union(conv.build()?)?;
    let stream = if cx.functions.partitioned_windows() {
        // Under a memory limit or on a cluster: DataFusion's running
        // windows partitioned by entity, which stream one entity at a time
        // (the credit window holds the whole stream in one partition),
        // slower where entities are many.
        partitioned_credit(union, &keys, &order, dims)?
    } else {
        let credit = Expr::from(WindowFunction::new(
            datafusion::logical_expr::WindowFunctionDefinition::WindowUDF(
                crate::lower::functions::credit(keys.len(), names),
            ),
            args,
        ))
        .order_by(order)
        .build()?
        .alias("__credit");
        let field = |name: &str| get_field(expr::column("__credit"), name);
        union.window(vec![credit])?.project(
            [ENTITY, "__t", KIND, "__b", "__in"]
                .iter()
                .map(|c| expr::column(c))
                .chain(dims.iter().map(|d| expr::column(d)))
                .chain([
                    field("t").alias("__bt"),
                    field("b").alias("__bb"),
                    field("past").alias("__bpast"),
                    expr::column("__credit"),
                ])
                .collect::<Vec<_>>(),
        )?
    };

    // Base events of the range, and conversions credited to one of them
    // less than the window after it (the far edge is exclusive, as
    // MetricFlow's).
    let mut counted = expr::column("__bt")
        .is_not_null()
        .and(expr::column("__bpast").eq(lit(0i32)));
    if let Some(w) = key.within_micros {
        counted = counted.and((expr::column("__t") - expr::column("__bt")).lt(lit(w)));
    }
    let keep = is_base
        .clone()
        .and(expr::column("__in"))
        .or(expr::column(KIND).eq(lit(1i32)).and(counted));
    let mut out = vec![
        when(is_base.clone(), expr::column("__b"))
            .otherwise(expr::column("__bb"))?
            .alias(BUCKET),
    ];
    let credited = expr::column("__credit");
    for (i, d) in dims.iter().enumerate() {
        out.push(
            when(is_base.clone(), expr::column(d))
                .otherwise(get_field(credited.clone(), format!("d{i}")))?
                .alias(d),
        );
    }
    out.push(expr::column(KIND));
    out.push(expr::column(ENTITY));
    stream.filter(keep)?.project(out)
}

/// The credit columns (`__bt`, `__bb`, `__bpast` and, with a breakdown,
/// `__credit` holding `d0`, `d1`, ...) by running windows partitioned by
/// the keys: each the maximum over the entity's base rows so far (later
/// base events have later times and buckets, and those past the range come
/// last), and the last base row's breakdown values.
fn partitioned_credit(
    rows: LogicalPlanBuilder,
    keys: &[Expr],
    order: &[datafusion::logical_expr::SortExpr],
    dims: &[String],
) -> Result<LogicalPlanBuilder> {
    use datafusion::logical_expr::{WindowFrame, WindowFrameBound, WindowFrameUnits};
    let is_base = expr::column(KIND).eq(lit(0i32));
    // The keys lead the order already; within a partition only the rest
    // matters.
    let order = order[keys.len()..].to_vec();
    let frame = WindowFrame::new_bounds(
        WindowFrameUnits::Rows,
        WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
        WindowFrameBound::CurrentRow,
    );
    let running = |value: Expr, name: &str| -> Result<Expr> {
        Ok(Expr::from(WindowFunction::new(
            datafusion::logical_expr::WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::min_max::max_udaf(),
            ),
            vec![when(is_base.clone(), value).end()?],
        ))
        .partition_by(keys.to_vec())
        .order_by(order.clone())
        .window_frame(frame.clone())
        .build()?
        .alias(name))
    };
    let past = when(expr::column("__in"), lit(0i32)).otherwise(lit(1i32))?;
    let mut windows = vec![
        running(expr::column("__t"), "__bt")?,
        running(expr::column("__b"), "__bb")?,
        running(past, "__bpast")?,
    ];
    if !dims.is_empty() {
        let mut fields = Vec::new();
        for (i, d) in dims.iter().enumerate() {
            fields.push(lit(format!("d{i}")));
            fields.push(expr::column(d));
        }
        let own = when(
            is_base.clone(),
            datafusion::functions::core::expr_fn::named_struct(fields),
        )
        .end()?;
        windows.push(
            Expr::from(WindowFunction::new(
                datafusion::functions_window::nth_value::last_value_udwf(),
                vec![own],
            ))
            .partition_by(keys.to_vec())
            .order_by(order)
            .window_frame(frame)
            .null_treatment(datafusion::logical_expr::expr::NullTreatment::IgnoreNulls)
            .build()?
            .alias("__credit"),
        );
    }
    rows.window(windows)
}
