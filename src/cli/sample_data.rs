//! `metricc sample-data`: write the example project's Parquet sources.

use super::ExitStatus;
use crate::sample::{self, Options};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the Parquet files into (created if missing).
    pub dir: PathBuf,
    /// Number of developers who sign up; other tables scale with it.
    #[arg(long, default_value_t = 500)]
    pub developers: u64,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First day of data, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-01-05")]
    pub start: chrono::NaiveDate,
    /// Number of days of data.
    #[arg(long, default_value_t = 120)]
    pub days: u32,
    /// Mean events per developer who signs up, about: scales how often each
    /// one calls the API (the spread stays heavy tailed). Unset, about 380
    /// over 120 days, the suite's few-entities shape; 8 gives the shape of
    /// most API products, many developers with a few events each.
    #[arg(long, value_parser = events_per_developer)]
    pub events_per_developer: Option<f64>,
    /// Adds one developer, `dev_heavy`, with this many API calls at random
    /// times (a bot, a load test): the shape that tests memory per entity.
    #[arg(long, default_value_t = 0)]
    pub heavy_developer_calls: u64,
}

fn events_per_developer(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (3.0..=100_000.0).contains(&v) => Ok(v),
        Ok(_) => Err(
            "give a number from 3 to 100000 (every developer has a signup and most an API key)"
                .into(),
        ),
        Err(e) => Err(e.to_string()),
    }
}

pub fn sample_data(args: &Args) -> ExitStatus {
    let opts = Options {
        developers: args.developers,
        seed: args.seed,
        start: args.start,
        days: args.days,
        events_per_developer: args.events_per_developer,
        heavy_developer_calls: args.heavy_developer_calls,
    };
    let started = std::time::Instant::now();
    match sample::generate(&args.dir, &opts) {
        Ok(summary) => {
            for (name, rows) in &summary.tables {
                eprintln!("{:>12} rows  {}/{name}.parquet", rows, args.dir.display());
            }
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
            ExitStatus::Ok
        }
        Err(e) => {
            eprintln!(
                "error[E0001]: cannot write sample data to `{}`: {e}",
                args.dir.display()
            );
            ExitStatus::Findings
        }
    }
}
