//! lower: metricc's own aggregate functions, one per file; the pure engines
//! they run (`activity`, `sweep`) and what they share (`lists`) beside them.

mod active;
pub mod activity;
mod arena;
mod credit;
mod funnel;
mod heavy;
mod lists;
mod pattern;
mod percentile;
pub mod portable;
mod retention;
pub mod round;
mod running;
pub mod sweep;
pub mod wall;

pub use active::{ACTIVE, active};
pub use credit::{CREDIT, credit};
pub use funnel::{Block, FUNNEL, HEAVY, Part, Sequences, funnel};
pub use pattern::{PatternSpec, SEQUENCE, sequence};
pub use percentile::{PERCENTILE, PERCENTILES, Point};
pub use retention::{RETENTION, retention};
pub use running::{RUNNING, RunningSpec, running};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use datafusion::arrow::datatypes::ArrowPrimitiveType;
use datafusion::logical_expr::{AggregateUDF, Expr};
use std::sync::Arc;

/// The functions a plan is lowered with where a run chooses the version:
/// the engine makes them for its resources and hands them to `lower`, so
/// a plan is built with the right function, not rewritten afterwards.
#[derive(Debug, Clone)]
pub struct Functions {
    percentile: Arc<AggregateUDF>,
    /// The several-point form of `percentile`, with its budget: what the
    /// engine merges percentiles of one column into.
    percentiles: Arc<AggregateUDF>,
    /// The run has a memory limit: sequences read their rows sorted by
    /// entity and time (see [`Sequences::sorted`]), and conversions credit
    /// through windows that stream one entity at a time.
    memory_limited: bool,
    /// Plans run on a cluster: conversions credit their events with windows
    /// partitioned by entity, which a cluster spreads over its executors,
    /// not with `metricc_credit`, which needs the whole stream in one
    /// partition (and did not finish on Ballista).
    partitioned_windows: bool,
}

impl Default for Functions {
    /// Every value in memory: a run without a memory limit.
    fn default() -> Self {
        Functions {
            percentile: percentile::unbounded_percentile(),
            percentiles: percentile::shared_percentiles(None),
            memory_limited: false,
            partitioned_windows: false,
        }
    }
}

impl Functions {
    /// Exact percentiles holding about `budget` bytes of values per group
    /// before they write sorted runs to temporary files.
    pub fn with_percentile_budget(self, budget: usize) -> Self {
        Functions {
            percentile: percentile::bounded_percentile(budget),
            percentiles: percentile::shared_percentiles(Some(budget)),
            ..self
        }
    }

    /// Plans for a run under a memory limit: sequences over rows sorted by
    /// entity and time, conversions through streaming windows.
    pub fn with_memory_limit(self) -> Self {
        Functions {
            memory_limited: true,
            ..self
        }
    }

    /// Functions for plans that run on a cluster.
    pub fn with_partitioned_windows(self) -> Self {
        Functions {
            partitioned_windows: true,
            ..self
        }
    }

    /// Whether plans are for a run under a memory limit.
    pub fn memory_limited(&self) -> bool {
        self.memory_limited
    }

    /// Whether conversions use windows partitioned by entity: under a
    /// memory limit, or on a cluster.
    pub fn partitioned_windows(&self) -> bool {
        self.memory_limited || self.partitioned_windows
    }

    /// `percentile(x, p)` as an aggregate expression.
    pub fn percentile(&self, x: Expr, p: Expr) -> Expr {
        self.percentile.call(vec![x, p])
    }

    /// The function answering several percentiles of one column at once
    /// (`metricc_percentiles`), with the same budget as `percentile`.
    pub fn percentiles(&self) -> Arc<AggregateUDF> {
        Arc::clone(&self.percentiles)
    }
}

/// The rows of a grouped update that its FILTER mask keeps (a null mask
/// value drops the row), each with its group.
fn rows_of<'a>(
    group_indices: &'a [usize],
    opt_filter: Option<&'a BooleanArray>,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    group_indices
        .iter()
        .copied()
        .enumerate()
        .filter(move |(row, _)| kept(opt_filter, *row))
}

/// Whether a FILTER mask keeps `row` (a null mask value drops it).
pub(crate) fn kept(opt_filter: Option<&BooleanArray>, row: usize) -> bool {
    opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// `values` where a FILTER mask keeps the row, null elsewhere: each row its
/// own partial state, for an accumulator's `convert_to_state`.
pub(crate) fn kept_values<T: ArrowPrimitiveType>(
    values: &ArrayRef,
    opt_filter: Option<&BooleanArray>,
) -> ArrayRef {
    let x = values.as_primitive::<T>();
    let kept: PrimitiveArray<T> = (0..x.len())
        .map(|row| (kept(opt_filter, row) && x.is_valid(row)).then(|| x.value(row)))
        .collect();
    Arc::new(kept)
}
