//! `metricc report`: check, plan, execute, then draw the results as one
//! self-contained HTML page.

use super::ExitStatus;
use super::request::{self, GrainArg, QueryArgs};
use super::run::Progress;
use crate::engine::{self, Engine, Failure, data_error};
use crate::report::{self, frame::Frame};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Metrics to draw, in this order. Default: every metric the version
    /// can compute, in definition order.
    pub metrics: Vec<String>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Write the page to this file (replaced atomically once it is whole).
    /// Without it the page goes to stdout, unless stdout is a terminal.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Memory for the query engine, e.g. `512M`, `2G`. Default: no limit.
    #[arg(long, value_parser = super::run::parse_bytes)]
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
    #[arg(long, value_name = "URL", value_parser = super::run::cluster)]
    pub cluster: Option<crate::cluster::Cluster>,
}

pub fn report(args: &Args) -> ExitStatus {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        eprintln!(
            "error: the report is a page of HTML; pass `--output report.html` or redirect stdout"
        );
        return ExitStatus::Usage;
    }
    // A report draws metrics over time: by week unless told otherwise.
    let mut query_args = args.query.clone();
    query_args.by = query_args.by.or(Some(GrainArg::Week));
    let prepared = match request::prepare(&query_args, &args.metrics) {
        Ok(p) => p,
        Err(status) => return status,
    };
    if !args.quiet {
        for n in &prepared.notes {
            eprintln!("note: {n}");
        }
    }
    let color = args.query.color;
    if let Err(status) = prepared.refuse_project_file(color, args.output.as_deref(), "report") {
        return status;
    }
    let model = &prepared.model;
    // The metrics table at the buckets asked for; tables of their own (a
    // funnel's steps, a retention matrix) once over the whole range.
    let mut columns = prepared.query.clone();
    columns
        .metrics
        .retain(|m| model.metric(m).is_some_and(|m| m.shape.column));
    let mut tables = prepared.query.clone();
    tables.grain = None;
    tables
        .metrics
        .retain(|m| model.metric(m).is_some_and(|m| m.shape.table.is_some()));
    let progress = Progress::start(
        !args.quiet && std::io::stderr().is_terminal(),
        &prepared.query,
    );
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
        // Of the first query the metrics table; of the second the tables
        // of their own (its metrics table has no column).
        let mut out = Vec::new();
        if !columns.metrics.is_empty() {
            out.extend(
                engine
                    .compute(model, &columns)?
                    .into_iter()
                    .filter(|c| c.metric.is_none()),
            );
        }
        if !tables.metrics.is_empty() {
            out.extend(
                engine
                    .compute(model, &tables)?
                    .into_iter()
                    .filter(|c| c.metric.is_some()),
            );
        }
        Ok(out)
    });
    progress.finish();
    let computed = match computed {
        Ok(c) => c,
        Err(f) => return prepared.failed(color, f),
    };
    let mut input = report::Input {
        model,
        query: &columns,
        metrics: None,
        tables: Vec::new(),
        order: prepared.query.metrics.clone(),
        notes: prepared.notes.clone(),
        made: chrono::Local::now().format("%Y-%m-%d %H:%M").to_string(),
    };
    for c in &computed {
        let frame = Frame::from_batches(&c.schema, &c.batches);
        match &c.metric {
            None => input.metrics = Some(frame),
            Some(m) => input.tables.push((m.clone(), frame)),
        }
    }
    let page = report::render(&input);
    match &args.output {
        None => super::output::print(page.as_bytes()),
        Some(path) => {
            if let Err(status) = prepared.write(color, path, page.as_bytes()) {
                return status;
            }
            if !args.quiet {
                eprintln!(
                    "wrote the report of {} metrics to {}",
                    prepared.query.metrics.len(),
                    path.display()
                );
            }
        }
    }
    ExitStatus::Ok
}
