//! lower: metricc's own aggregate functions, one per file.

mod funnel;
mod percentile;
pub mod sweep;

pub use funnel::{FUNNEL, funnel};
pub use percentile::{PERCENTILE, percentile};
