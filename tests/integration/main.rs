//! The one integration-test binary (so DataFusion links once).

mod activity_engine;
mod cases;
mod catalog;
mod check_then_run;
mod cli;
mod diff;
mod docs;
mod duckdb;
mod errors_that_help;
mod example;
mod fixtures;
mod funnel_engine;
mod kinds;
mod output_files;
mod parser;
mod percentile;
mod random_definitions;
mod robustness;
mod run;
mod run_activity;
mod run_cli;
mod run_funnel;
mod shared_passes;
mod test_cmd;
mod test_compare;
mod untrusted;
