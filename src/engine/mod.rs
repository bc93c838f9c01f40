//! execute: tables and plans -> record batches. The only async code: a
//! DataFusion session with the run's memory pool, spill directory and threads.
//!
//! - this module: the session, the tables of sources, planning and running;
//! - [`rewrite`]: logical rewrites of how a plan runs (repeated subplans once,
//!   one aggregating subplan at a time under a memory limit);
//! - [`one_phase`]: the physical rule that runs per-entity aggregates in one
//!   phase;
//! - [`shared_percentiles`]: the logical rule that merges percentiles of one
//!   column into one store;
//! - [`checked`]: the logical rule that swaps in checked integer arithmetic,
//!   order-independent float aggregates ([`exact`]) and an exact
//!   `count(DISTINCT s)` for strings ([`distinct`]);
//! - [`error`]: data errors as diagnostics.

mod checked;
mod distinct;
mod error;
mod exact;
mod one_phase;
pub mod portable;
mod read_bytes;
mod rewrite;
mod shared_percentiles;
mod unused_attributes;

pub use error::{data_error, run_error};

use crate::diagnostics::Diagnostic;
use crate::lower::functions::Functions;
use crate::lower::{Lowered, Query, Table};
use crate::semantic::model::{Entity, Model, Source};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, Result};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Bytes of a sorted run in memory under a memory limit.
const SORT_RUN_BYTES: usize = 8 << 20;

/// DataFusion's default reservation of a sort for merging its spills.
const SORT_MERGE_RESERVATION: usize = 10 << 20;

/// The stack of each engine thread when plans run on a cluster.
#[cfg(feature = "distributed")]
const CLUSTER_STACK: usize = 64 << 20;

/// Resources a run may use.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Worker threads and plan partitions; all cores when `None`.
    pub threads: Option<usize>,
    /// Memory for operators in bytes; operators that can spill to disk do so
    /// beyond it, the others fail with a resources error.
    pub memory_limit: Option<usize>,
    /// Bytes the values of each exact percentile in each group may hold
    /// before they are sorted into runs and runs are written to temporary
    /// files. Defaults to a sixteenth of `memory_limit`; unbounded without a
    /// limit.
    pub percentile_budget: Option<usize>,
    /// Run plans on a Ballista cluster instead of in this process.
    #[cfg(feature = "distributed")]
    pub cluster: Option<crate::cluster::Cluster>,
}

/// A DataFusion session and the runtime that drives it.
pub struct Engine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    /// The functions plans are lowered with: an exact percentile with the
    /// run's memory budget, when there is one.
    functions: Functions,
    /// Whether operators share a memory limit.
    limited: bool,
    /// Bytes read from local files so far (`read_bytes`).
    read: Arc<AtomicU64>,
    /// Whether plans run on a cluster.
    distributed: bool,
}

impl Engine {
    pub fn new(options: &Options) -> Result<Self> {
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut config = SessionConfig::new()
            // No file statistics: from them DataFusion 55 replaces a column
            // whose min equals its max (and has no nulls) by that value, and
            // Parquet leaves NaN out of float statistics, so a column holding
            // 1.5 and NaN was read as 1.5 throughout (a silent wrong answer).
            // Row groups are still pruned by the range, from the footers.
            .with_collect_statistics(false)
            .with_target_partitions(threads)
            .with_information_schema(false);
        let percentile_budget = options
            .percentile_budget
            .or(options.memory_limit.map(|limit| limit / 16));
        // Under a memory limit a funnel's rows are sorted by entity, so
        // that no entity's events need be held whole.
        let sort_sequences = options.memory_limit.is_some();
        let mut runtime_env = RuntimeEnvBuilder::new();
        #[cfg(feature = "object-storage")]
        {
            runtime_env = runtime_env
                .with_object_store_registry(Arc::new(crate::storage::Registry::default()));
        }
        if let Some(limit) = options.memory_limit {
            // The error on exhaustion names the largest consumers.
            let pool = TrackConsumersPool::new(
                FairSpillPool::new(limit),
                std::num::NonZeroUsize::new(3).unwrap(),
            );
            runtime_env = runtime_env
                .with_memory_pool(Arc::new(pool))
                .with_disk_manager_builder(
                    DiskManagerBuilder::default()
                        .with_mode(DiskManagerMode::Directories(vec![crate::spill::dir()?])),
                );
            // Batches keep DataFusion's 8192 rows. They were 512 while a
            // funnel's spilled state (every event of an entity) was written
            // and read back in batches of that many entities; sorted by
            // entity, a funnel no longer spills its state, and DataFusion's
            // sort merges one run per batch when it spills: with 512-row
            // batches, one entity of 10M events took 155 s under a 2 GB
            // limit. A sort by one column (a funnel's rows by entity) sorts
            // runs of this many bytes when it does not spill.
            config.options_mut().execution.sort_in_place_threshold_bytes = SORT_RUN_BYTES;
            // Each sort partition sets this much aside to merge its spilled
            // runs: DataFusion's 10 MB, but at most a 64th of the limit, so
            // that a small limit leaves a sort room to grow.
            config.options_mut().execution.sort_spill_reservation_bytes =
                SORT_MERGE_RESERVATION.min(limit / 64);
        }
        let mut functions = Functions::default();
        if let Some(budget) = percentile_budget {
            functions = functions.with_percentile_budget(budget);
        }
        if sort_sequences {
            functions = functions.with_memory_limit();
        }
        #[cfg(feature = "distributed")]
        if options.cluster.is_some() {
            functions = functions.with_partitioned_windows();
            config = crate::cluster::config(config, sort_sequences);
        }
        let state = session(
            config,
            runtime_env.build_arc()?,
            Some(shared_percentiles::SharedPercentiles {
                percentiles: functions.percentiles(),
                bounded: percentile_budget.is_some(),
            }),
            sort_sequences,
        );
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.worker_threads(threads).enable_all();
        // On a cluster, plans cross processes as protobuf, whose encoders
        // and decoders recurse once per level of a plan: a metrics table
        // joins one subplan per metric, and the example's overflowed the
        // 2 MiB stacks of a debug build. (Local plans are walked with
        // DataFusion's stack-growing recursion.)
        #[cfg(feature = "distributed")]
        if options.cluster.is_some() {
            runtime.thread_stack_size(CLUSTER_STACK);
        }
        let runtime = runtime.build()?;
        #[cfg(feature = "distributed")]
        let ctx = match &options.cluster {
            Some(c) => runtime.block_on(crate::cluster::context(c, state))?,
            None => SessionContext::new_with_state(state),
        };
        #[cfg(not(feature = "distributed"))]
        let ctx = SessionContext::new_with_state(state);
        let read = Arc::new(AtomicU64::new(0));
        let local = ObjectStoreUrl::local_filesystem();
        let store = ctx.runtime_env().object_store(&local)?;
        ctx.register_object_store(
            local.as_ref(),
            Arc::new(read_bytes::CountingStore::new(store, read.clone())),
        );
        Ok(Engine {
            ctx,
            runtime,
            functions,
            limited: options.memory_limit.is_some(),
            read,
            #[cfg(feature = "distributed")]
            distributed: options.cluster.is_some(),
            #[cfg(not(feature = "distributed"))]
            distributed: false,
        })
    }

    /// The bytes this engine has read from local files so far: footers,
    /// indexes and the column chunks its scans fetched. A counter that
    /// grows while a plan runs, for progress displays.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    /// A table over the Parquet files of each source `query` reads.
    pub fn tables(&self, model: &Model, query: &Query) -> Result<HashMap<String, Table>, Failure> {
        let mut out = HashMap::new();
        let mut entities: HashMap<String, Table> = HashMap::new();
        for s in sources_read(model, query) {
            let mut t = self
                .runtime
                .block_on(self.table(s))
                .map_err(|e| Failure::Data(data_error(Some(&s.name), e)))?;
            if let Some(e) = model.entity_of(s) {
                if !entities.contains_key(&e.name) {
                    let et = self
                        .runtime
                        .block_on(self.entity_table(e))
                        .map_err(|err| Failure::Data(data_error(Some(&e.name), err)))?;
                    entities.insert(e.name.clone(), et);
                }
                t = crate::lower::attributes::attach(
                    t,
                    e,
                    &entities[&e.name],
                    model.project.time_zone,
                )
                .map_err(|err| Failure::Data(data_error(Some(&s.name), err)))?;
            }
            out.insert(s.name.clone(), t);
        }
        Ok(out)
    }

    /// A source's table: its files listed for DataFusion's Parquet scan,
    /// joined by the files whose stored Arrow schema is damaged, which are
    /// read apart from their Parquet schema (DataFusion's reader would
    /// decode the stored schema and panic).
    async fn table(&self, source: &Source) -> Result<Table> {
        let (damaged, files): (Vec<&PathBuf>, Vec<&PathBuf>) = source
            .schema
            .files
            .iter()
            .partition(|f| source.schema.damaged.contains(f));
        if let Some(url) = damaged.iter().find_map(|f| crate::storage::remote(f)) {
            // Such a file is read apart from DataFusion's reader, which
            // only local files can be.
            return datafusion::common::plan_err!(
                "`{url}` of source `{}` has a damaged Arrow schema in its footer; rewrite that object",
                source.name
            );
        }
        let partitioned = source.schema.columns.iter().any(|c| c.partition);
        if partitioned && !damaged.is_empty() {
            // The listing of a partitioned source is its root directory,
            // which would list the damaged files too.
            return datafusion::common::plan_err!(
                "source `{}` is partitioned by directories and `{}` has a damaged Arrow schema in its footer; rewrite that file",
                source.name,
                damaged[0].display()
            );
        }
        let listed = self.listing(source, &files).await?;
        let table: Arc<dyn datafusion::catalog::TableProvider> = match listed {
            Some(listed) if damaged.is_empty() => listed,
            None if damaged.is_empty() => {
                return datafusion::common::plan_err!("source `{}` has no files", source.name);
            }
            listed => with_damaged(source, listed, &damaged)?,
        };
        let schema = Arc::new(DFSchema::try_from(table.schema().as_ref().clone())?);
        Ok(Table {
            source: provider_as_source(table),
            schema,
            attributes: None,
        })
    }

    /// The table of entity `e`'s attributes, read like a source's files
    /// (listing, directory partitions, damaged files).
    async fn entity_table(&self, e: &Entity) -> Result<Table> {
        self.table(&e.as_source()).await
    }

    /// `files` as a listing table for DataFusion's Parquet scan, with the
    /// source's directory partitions; `None` without files.
    async fn listing(
        &self,
        source: &Source,
        files: &[&PathBuf],
    ) -> Result<Option<Arc<ListingTable>>> {
        let Some(first) = files.first() else {
            return Ok(None);
        };
        let partition_cols: Vec<(String, DataType)> = source
            .schema
            .columns
            .iter()
            .filter(|c| c.partition)
            .map(|c| (c.name.clone(), DataType::Utf8))
            .collect();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partition_cols.clone());
        let file_schema = options
            .infer_schema(&self.ctx.state(), &url(first)?)
            .await?;
        let urls = if partition_cols.is_empty() {
            files.iter().map(|f| url(f)).collect::<Result<Vec<_>>>()?
        } else {
            let root = partition_root(first);
            vec![ListingTableUrl::parse(format!(
                "{}/",
                root.to_string_lossy()
            ))?]
        };
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(file_schema);
        Ok(Some(Arc::new(ListingTable::try_new(config)?)))
    }

    /// For each source of `tables` whose footers could not rule out null
    /// times or entities (W0004), the rows that have none, when there are
    /// any: one more scan of those two columns, only for such sources.
    pub fn rows_without_keys(
        &self,
        model: &Model,
        tables: &HashMap<String, Table>,
    ) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let unverified = model
            .sources
            .iter()
            .filter(|s| !s.schema.unverified.is_empty());
        for (s, table) in unverified.filter_map(|s| Some((s, tables.get(&s.name)?))) {
            let count = || -> Result<u64> {
                let mut missing = crate::lower::expr::column(&s.time).is_null();
                if let Some(e) = &s.entity {
                    missing = missing.or(crate::lower::expr::column(e).is_null());
                }
                let plan = datafusion::logical_expr::LogicalPlanBuilder::scan(
                    s.name.as_str(),
                    table.source.clone(),
                    None,
                )?
                .filter(missing)?
                .aggregate(
                    Vec::<datafusion::logical_expr::Expr>::new(),
                    vec![datafusion::functions_aggregate::expr_fn::count(
                        datafusion::logical_expr::lit(1i64),
                    )],
                )?
                .build()?;
                let batches = self.collect(plan)?;
                Ok(batches
                    .first()
                    .and_then(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<datafusion::arrow::array::Int64Array>()
                            .map(|a| a.value(0))
                    })
                    .unwrap_or(0) as u64)
            };
            if let Ok(n) = count()
                && n > 0
            {
                out.push((s.name.clone(), n));
            }
        }
        out
    }

    /// The Arrow schema a source's table has in a run (read from its files).
    pub fn source_schema(&self, source: &Source) -> Result<SchemaRef> {
        let t = self.runtime.block_on(self.table(source))?;
        Ok(Arc::new(t.schema.as_arrow().clone()))
    }

    /// A table over record batches held in memory (the rows of a test).
    pub fn memory_table(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Table> {
        let table = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
        Ok(Table {
            source: provider_as_source(table),
            schema: Arc::new(DFSchema::try_from(schema.as_ref().clone())?),
            attributes: None,
        })
    }

    /// Reads the sources' table metadata and plans `query`.
    pub fn plan(&self, model: &Model, query: &Query) -> Result<Lowered, Failure> {
        let tables = self.tables(model, query)?;
        crate::lower::lower(model, query, &tables, &self.functions, !self.limited)
            .map_err(|e| Failure::Internal(e.to_string()))
    }

    /// Plans and runs `query`: every result table's schema and batches.
    pub fn compute(&self, model: &Model, query: &Query) -> Result<Vec<Computed>, Failure> {
        let tables = self.tables(model, query)?;
        self.compute_on(model, query, &tables)
    }

    /// Plans and runs `query` over the given tables, one per source it reads.
    pub fn compute_on(
        &self,
        model: &Model,
        query: &Query,
        tables: &HashMap<String, Table>,
    ) -> Result<Vec<Computed>, Failure> {
        let lowered = crate::lower::lower(model, query, tables, &self.functions, !self.limited)
            .map_err(|e| Failure::Internal(e.to_string()))?;
        self.unique_keys(model, &lowered, tables)?;
        let failed = |e| Failure::Data(run_error(e, &files_read(model, query)));
        // Under a memory limit each table runs alone, one aggregate at a
        // time; otherwise what the tables share runs once for all of them.
        // Both run subplans here and scan their results from memory, which
        // a cluster cannot read: there each table's plan runs whole.
        let mut tables = lowered.tables;
        if !self.limited && !self.distributed {
            let plans = tables.iter().map(|t| t.plan.clone()).collect();
            for (t, plan) in tables.iter_mut().zip(self.once(plans).map_err(failed)?) {
                t.plan = plan;
            }
        }
        let mut out = Vec::new();
        for t in tables {
            let schema = Arc::new(t.plan.schema().as_arrow().clone());
            let batches = if self.limited && !self.distributed {
                self.one_at_a_time(t.plan)
            } else {
                Ok(t.plan)
            }
            .and_then(|plan| self.collect(plan))
            .map_err(failed)?;
            out.push(Computed {
                metric: t.metric,
                title: t.title,
                schema,
                batches,
            });
        }
        Ok(out)
    }

    /// E0310 when an attribute table the plans read has two rows for one
    /// key (or two versions from one time): each event of that entity
    /// would count once per row. The plans as the optimizer leaves them:
    /// a join whose attributes nothing reads is gone there
    /// (`unused_attributes`), and its table is not checked.
    fn unique_keys(
        &self,
        model: &Model,
        lowered: &Lowered,
        tables: &HashMap<String, Table>,
    ) -> Result<(), Failure> {
        use crate::lower::attributes;
        let mut used = Vec::new();
        for t in &lowered.tables {
            let mut named = Vec::new();
            attributes::used_entities(&t.plan, &mut named);
            if named.is_empty() {
                continue;
            }
            let optimized = self
                .ctx
                .state()
                .optimize(&t.plan)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            attributes::used_entities(&optimized, &mut used);
        }
        for name in used {
            let (Some(e), Some(a)) = (
                model.entity(&name),
                tables
                    .values()
                    .filter_map(|t| t.attributes.as_deref())
                    .find(|a| a.entity == name),
            ) else {
                continue;
            };
            let found = attributes::duplicates(a)
                .and_then(|plan| self.collect(plan))
                .map_err(|err| Failure::Data(data_error(Some(&name), err)))?;
            let rows: Vec<String> = found
                .iter()
                .flat_map(|b| {
                    let shown: Vec<String> = (0..b.num_rows())
                        .map(|r| {
                            let cell = |c: usize| {
                                datafusion::arrow::util::display::array_value_to_string(
                                    b.column(c),
                                    r,
                                )
                                .unwrap_or_default()
                            };
                            let n = b.num_columns() - 1;
                            let key = (0..n).map(cell).collect::<Vec<_>>().join(" from ");
                            format!("`{key}` ({} rows)", cell(n))
                        })
                        .collect();
                    shown
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let what = match &e.valid_from {
                Some(v) => format!("two versions of one `{}` from one `{v}`", e.key),
                None => format!("two rows for one `{}`", e.key),
            };
            return Err(Failure::Data(
                Diagnostic::new(
                    crate::diagnostics::Code::EntityKeyNotUnique,
                    format!("the table of entity `{name}` has {what}"),
                )
                .at(e.span, format!("for example {}", rows.join(", ")))
                .with_help(match &e.valid_from {
                    Some(_) => "keep one version per start time where the table is produced",
                    None => "keep one row per entity where the table is produced, or declare `valid_from` if the rows are versions over time",
                }),
            ));
        }
        Ok(())
    }

    /// Whether `columns` name at most one row of `files` per value (an
    /// entity table's key, with its version column when it keeps
    /// versions). Reads those columns whole; `metricc init` asks it.
    pub fn unique(&self, files: &[PathBuf], columns: &[&str]) -> Result<bool> {
        let paths: Vec<String> = files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        self.runtime.block_on(async {
            let df = self
                .ctx
                .read_parquet(paths, datafusion::prelude::ParquetReadOptions::default())
                .await?
                .select_columns(columns)?;
            let rows = df.clone().count().await?;
            let distinct = df.distinct()?.count().await?;
            Ok(rows == distinct)
        })
    }

    /// Runs a plan to completion.
    pub fn collect(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
        self.runtime.block_on(async {
            let df = self.ctx.execute_logical_plan(plan).await?;
            df.collect().await
        })
    }

    /// The plan after DataFusion's optimizer.
    pub fn optimize(&self, plan: &LogicalPlan) -> Result<LogicalPlan> {
        self.ctx.state().optimize(plan)
    }

    /// The stages a metricc scheduler cuts `plan` (optimized) into: each
    /// stage's plan ends in the shuffle writer that hands its output to
    /// the next, which reads it through unresolved shuffle reads.
    #[cfg(feature = "distributed")]
    pub fn stages(&self, plan: &LogicalPlan) -> Result<Vec<String>> {
        let state = scheduler_session(self.ctx.copied_config(), self.ctx.runtime_env());
        self.runtime
            .block_on(async { crate::cluster::stages(&state, plan).await })
    }

    /// The physical plan DataFusion would execute.
    pub fn physical(&self, plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>> {
        self.runtime
            .block_on(async { self.ctx.state().create_physical_plan(plan).await })
    }
}

/// A session with metricc's rules: checked integers and exact aggregates,
/// unused attributes dropped, percentiles of a column merged (`shared`),
/// and per-entity aggregates in one phase.
fn session(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    shared: Option<shared_percentiles::SharedPercentiles>,
    sort_sequences: bool,
) -> SessionState {
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_optimizer_rule(Arc::new(checked::CheckedIntegers))
        .with_optimizer_rule(unused_attributes::rule());
    if let Some(shared) = shared {
        builder = builder.with_optimizer_rule(Arc::new(shared));
    }
    builder
        .with_physical_optimizer_rule(Arc::new(one_phase::OnePhase { sort_sequences }))
        .build()
}

/// The session a Ballista scheduler plans a client's queries with: the
/// client's settings (`config`, with [`crate::cluster::Settings`]) and
/// metricc's rules. Percentiles are not merged here: the client sends
/// plans its own optimizer has already rewritten, and merging needs the
/// run's percentile function, which the plan carries.
#[cfg(feature = "distributed")]
pub fn scheduler_session(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let sort_sequences = config
        .options()
        .extensions
        .get::<crate::cluster::Settings>()
        .is_some_and(|s| s.sort_sequences);
    session(config, runtime, None, sort_sequences)
}

fn url(path: &Path) -> Result<ListingTableUrl> {
    if let Some(url) = crate::storage::remote(path) {
        return ListingTableUrl::parse(url);
    }
    let abs = std::path::absolute(path)?;
    ListingTableUrl::parse(abs.to_string_lossy())
}

/// The directory above the first `key=value` directory of a partitioned file.
fn partition_root(file: &Path) -> PathBuf {
    let abs = match crate::storage::remote(file) {
        Some(_) => file.to_path_buf(),
        None => std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
    };
    let mut root = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    while root
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains('='))
    {
        root.pop();
    }
    root
}

/// One computed result table.
#[derive(Debug, Clone)]
pub struct Computed {
    /// `None` for the metrics table; the metric whose table it is otherwise.
    pub metric: Option<String>,
    /// What the table holds, in words.
    pub title: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// Why a run failed.
#[derive(Debug)]
pub enum Failure {
    /// The data could not be read or computed: the user's to fix.
    Data(Diagnostic),
    /// metricc built a plan DataFusion rejects: a bug.
    Internal(String),
}

/// The sources `query` reads.
fn sources_read<'a>(model: &'a Model, query: &'a Query) -> impl Iterator<Item = &'a Source> {
    model.sources.iter().filter(move |s| {
        query
            .metrics
            .iter()
            .filter_map(|m| model.metric(m))
            .any(|m| m.sources.contains(&s.name))
    })
}

/// The files of the sources `query` reads.
fn files_read(model: &Model, query: &Query) -> Vec<PathBuf> {
    sources_read(model, query)
        .flat_map(|s| s.schema.files.iter().cloned())
        .collect()
}

/// A table of the damaged files of `source` (read whole into memory without
/// their stored Arrow schema, cast to the schema of `listed` when there is
/// one), joined to `listed` in a view.
fn with_damaged(
    source: &Source,
    listed: Option<Arc<ListingTable>>,
    damaged: &[&PathBuf],
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::error::DataFusionError;
    use datafusion::logical_expr::LogicalPlanBuilder;
    let mut batches = Vec::new();
    for f in damaged {
        batches.extend(
            crate::catalog::read_without_arrow_schema(f)
                .map_err(|e| DataFusionError::Execution(format!("`{}`: {e}", f.display())))?,
        );
    }
    let schema: SchemaRef = match &listed {
        Some(t) => t.schema(),
        None => batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty())),
    };
    let cast = |b: RecordBatch| -> Result<RecordBatch> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let c = b.column_by_name(field.name()).ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "a damaged file has no column `{}`",
                        field.name()
                    ))
                })?;
                Ok(datafusion::arrow::compute::cast(c, field.data_type())?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    };
    let batches = batches.into_iter().map(cast).collect::<Result<Vec<_>>>()?;
    let memory = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
    let Some(listed) = listed else {
        return Ok(memory);
    };
    let scan = |t: Arc<dyn datafusion::catalog::TableProvider>| {
        LogicalPlanBuilder::scan(source.name.as_str(), provider_as_source(t), None)
    };
    let plan = scan(listed)?.union(scan(memory)?.build()?)?.build()?;
    Ok(Arc::new(datafusion::catalog::view::ViewTable::new(
        plan, None,
    )))
}
