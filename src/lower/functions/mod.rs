//! lower: metricc's own aggregate functions, one per file.

pub mod activity;
mod funnel;
mod percentile;
pub mod sweep;
mod tracking;

pub use funnel::{FUNNEL, funnel};
pub use percentile::{PERCENTILE, bounded_percentile, percentile};
pub use tracking::{ACTIVE, RETENTION, RUNNING, RunningSpec, active, retention, running};
