//! lower: metricc's own aggregate functions, one per file.

pub mod activity;
mod funnel;
mod percentile;
pub mod sweep;
mod tracking;

pub use funnel::{FUNNEL, funnel};
pub use percentile::{PERCENTILE, bounded_percentile, percentile};
pub use tracking::{ACTIVE, RETENTION, RUNNING, RunningSpec, active, retention, running};

use datafusion::arrow::array::{Array, BooleanArray};

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
fn kept(opt_filter: Option<&BooleanArray>, row: usize) -> bool {
    opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}
