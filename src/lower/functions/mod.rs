//! lower: metricc's own aggregate functions, one per file.

mod percentile;

pub use percentile::{PERCENTILE, percentile};
