//! `metricc run`: check, plan, execute, write.

use super::ExitStatus;
use super::output::{self, OutputFormat};
use super::request::{self, QueryArgs};
use crate::diagnostics::{Code, Diagnostic};
use crate::engine::{self, Engine, Failure, data_error};
use crate::lower;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Metrics to compute, as columns in this order. Default: every metric the
    /// version can compute, in definition order.
    pub metrics: Vec<String>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result to this file instead of stdout. The file is replaced
    /// atomically, and only once the whole result is computed.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Memory for the query engine, e.g. `512M`, `2G`; beyond it operators spill
    /// to disk. Default: no limit.
    #[arg(long, value_parser = parse_bytes)]
    pub memory_limit: Option<usize>,
    /// Threads for the query engine. Default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress indicator and no notes on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Run the plans on an Apache DataFusion Ballista cluster: the
    /// scheduler's `df://HOST:PORT`, or `standalone` for a scheduler and an
    /// executor started in this process (docs/DISTRIBUTED.md).
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "URL", value_parser = cluster)]
    pub cluster: Option<crate::cluster::Cluster>,
    /// The result table to show: `metrics` (the metrics table), or the name
    /// of a metric with a table of its own (a funnel's steps, a retention
    /// matrix, a cohort metric by period). Default: every table on the
    /// terminal; the first one in a file format.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
}

pub fn run(args: &Args) -> ExitStatus {
    let prepared = match request::prepare(&args.query, &args.metrics) {
        Ok(p) => p,
        Err(status) => return status,
    };
    if !args.quiet {
        for n in &prepared.notes {
            eprintln!("note: {n}");
        }
    }
    if args.format == OutputFormat::Parquet
        && args.output.is_none()
        && std::io::stdout().is_terminal()
    {
        eprintln!("error: Parquet is binary; pass `--output FILE` or redirect stdout");
        return ExitStatus::Usage;
    }
    let color = args.query.color;
    let progress = Progress::start(
        !args.quiet && std::io::stderr().is_terminal(),
        &prepared.query,
    );
    if let Err(status) = prepared.refuse_project_file(color, args.output.as_deref(), "result") {
        return status;
    }
    let computed = Engine::new(&engine::Options {
        threads: args.threads,
        memory_limit: args.memory_limit,
        #[cfg(feature = "distributed")]
        cluster: args.cluster.clone(),
        ..Default::default()
    })
    .map_err(|e| Failure::Data(data_error(None, e)))
    .and_then(|engine| {
        progress.follow(engine.bytes_read());
        let sources = engine.tables(&prepared.model, &prepared.query)?;
        let tables = engine.compute_on(&prepared.model, &prepared.query, &sources)?;
        Ok((engine, sources, tables))
    });
    let tables = match computed {
        Ok((engine, sources, tables)) => {
            // Rows left out because they have no time or entity, where the
            // footers could not rule them out (W0004): counted and said.
            if !args.quiet {
                for (source, n) in engine.rows_without_keys(&prepared.model, &sources) {
                    eprintln!(
                        "note: {n} rows of source `{source}` have no time or no entity and were left out (W0004)"
                    );
                }
            }
            tables
        }
        Err(f) => return prepared.failed(color, f),
    };
    progress.finish();
    let vertical = prepared.query.grain.is_none() && prepared.query.group_by.is_empty();
    // The terminal table shows every result table; a file format holds one:
    // the first, and a note names the step tables left out.
    let tables: Vec<engine::Computed> = match &args.table {
        None => tables,
        Some(want) => {
            let names: Vec<String> = tables
                .iter()
                .map(|t| t.metric.clone().unwrap_or_else(|| "metrics".into()))
                .collect();
            match names.iter().position(|n| n == want) {
                Some(i) => vec![tables[i].clone()],
                None => {
                    return prepared.report(
                        color,
                        Diagnostic::new(
                            Code::UnknownMetricArgument,
                            format!("this run has no table `{want}`"),
                        )
                        .with_help(format!(
                            "its tables are {}",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
            }
        }
    };
    let shown: &[engine::Computed] = if args.format == OutputFormat::Table {
        &tables
    } else {
        &tables[..tables.len().min(1)]
    };
    if !args.quiet && shown.len() < tables.len() {
        let left: Vec<&str> = tables[shown.len()..]
            .iter()
            .filter_map(|t| t.metric.as_deref())
            .collect();
        let first = left.first().copied().unwrap_or_default();
        eprintln!(
            "note: {} holds one table; the table of {} was not written (run `metricc run {first} --table {first}` to write it)",
            args.format.name(),
            left.join(", "),
        );
    }
    let mut bytes = Vec::new();
    for (i, t) in shown.iter().enumerate() {
        if i > 0 {
            bytes.push(b'\n');
        }
        if t.metric.is_some() && args.format == OutputFormat::Table {
            bytes.extend_from_slice(format!("{}:\n", t.title).as_bytes());
        }
        let is_steps = t.metric.is_some();
        match output::encode(&t.schema, &t.batches, args.format, vertical && !is_steps) {
            Ok(b) => bytes.extend(b),
            Err(e) => return request::internal(format!("failed to encode the result: {e}")),
        }
    }
    match &args.output {
        None => output::print(&bytes),
        Some(path) => {
            if let Err(status) = prepared.write(color, path, &bytes) {
                return status;
            }
            if !args.quiet {
                let rows: usize = shown
                    .iter()
                    .flat_map(|t| &t.batches)
                    .map(|b| b.num_rows())
                    .sum();
                eprintln!("wrote {rows} rows to {}", path.display());
            }
        }
    }
    ExitStatus::Ok
}

/// Parses `--cluster`: `df://HOST:PORT`, or `standalone`.
#[cfg(feature = "distributed")]
pub fn cluster(s: &str) -> Result<crate::cluster::Cluster, String> {
    use crate::cluster::Cluster;
    match s.trim() {
        "standalone" => Ok(Cluster::Standalone),
        url if url.starts_with("df://") && url.len() > "df://".len() => {
            Ok(Cluster::Remote(url.to_string()))
        }
        other => Err(format!(
            "`{other}` is not a cluster; write the scheduler's `df://HOST:PORT`, or `standalone`"
        )),
    }
}

/// Parses `512M`, `2G`, `1.5GiB`, `1000000` into bytes.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. `512M` or `2G`"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        other => return Err(format!("unknown unit `{other}`; use K, M, G or T")),
    };
    let bytes = n * mult;
    if !(bytes >= 1.0 && bytes < usize::MAX as f64) {
        return Err(format!("`{s}` is not a usable memory size"));
    }
    Ok(bytes as usize)
}

/// A progress line on stderr while the query runs: the bytes of Parquet
/// read so far and the rate, beside a spinner and the time taken. Shown
/// only on a terminal; a run's length cannot be known in advance (a
/// source may be read by several plans, or pruned to a few row groups),
/// so it counts up rather than towards a total.
pub(super) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub(super) fn start(enabled: bool, query: &lower::Query) -> Self {
        if !enabled {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::no_length();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {bytes} of Parquet read ({binary_bytes_per_sec}), {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let n = query.metrics.len();
        bar.set_message(format!(
            "computing {n} metric{}",
            if n == 1 { "" } else { "s" }
        ));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// Follows `read`, the engine's count of bytes read, until finished.
    pub(super) fn follow(&self, read: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let Some(bar) = self.0.clone() else { return };
        std::thread::spawn(move || {
            while !bar.is_finished() {
                bar.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    }

    pub(super) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
