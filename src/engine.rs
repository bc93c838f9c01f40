//! engine: tables and plans -> record batches. The only async code: a
//! DataFusion session with the run's memory pool, spill directory and threads.

use crate::diagnostics::{Code, Diagnostic};
use crate::lower::{Lowered, Query, Table};
use crate::semantic::model::{Model, Source};
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
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per batch under a memory limit (see [`Engine::new`]).
const SPILL_BATCH_ROWS: usize = 512;

/// Resources a run may use.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Worker threads and plan partitions; all cores when `None`.
    pub threads: Option<usize>,
    /// Memory for operators in bytes; operators that can spill to disk do so
    /// beyond it, the others fail with a resources error.
    pub memory_limit: Option<usize>,
}

/// A DataFusion session and the runtime that drives it.
pub struct Engine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
}

impl Engine {
    pub fn new(options: &Options) -> Result<Self> {
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut config = SessionConfig::new()
            .with_target_partitions(threads)
            .with_information_schema(false);
        let mut runtime_env = RuntimeEnvBuilder::new();
        if let Some(limit) = options.memory_limit {
            runtime_env = runtime_env.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
            // Spilled aggregate states are written and merged back in batches
            // of this many groups; a funnel's state is every event of an
            // entity, so the default 8192 makes batches of hundreds of MB.
            config = config.with_batch_size(SPILL_BATCH_ROWS);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime_env.build_arc()?)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(OnePhaseFunnels))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?;
        Ok(Engine { ctx, runtime })
    }

    /// A table over the Parquet files of each source `query` reads.
    pub fn tables(&self, model: &Model, query: &Query) -> Result<HashMap<String, Table>, Failure> {
        let mut out = HashMap::new();
        let read = |s: &&Source| {
            query
                .metrics
                .iter()
                .filter_map(|m| model.metric(m))
                .any(|m| m.sources.contains(&s.name))
        };
        for s in model.sources.iter().filter(read) {
            let t = self
                .runtime
                .block_on(self.table(s))
                .map_err(|e| Failure::Data(data_error(Some(&s.name), e)))?;
            out.insert(s.name.clone(), t);
        }
        Ok(out)
    }

    async fn table(&self, source: &Source) -> Result<Table> {
        let state = self.ctx.state();
        let files = &source.schema.files;
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
        let first = match files.first() {
            Some(f) => url(f)?,
            None => return datafusion::common::plan_err!("source `{}` has no files", source.name),
        };
        let file_schema = options.infer_schema(&state, &first).await?;
        let urls = if partition_cols.is_empty() {
            files.iter().map(|f| url(f)).collect::<Result<Vec<_>>>()?
        } else {
            let root = partition_root(&files[0]);
            vec![ListingTableUrl::parse(format!("{}/", root.display()))?]
        };
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(file_schema);
        let table = Arc::new(ListingTable::try_new(config)?);
        let schema = Arc::new(DFSchema::try_from(table.schema().as_ref().clone())?);
        Ok(Table {
            source: provider_as_source(table),
            schema,
        })
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
        })
    }

    /// Reads the sources' table metadata and plans `query`.
    pub fn plan(&self, model: &Model, query: &Query) -> Result<Lowered, Failure> {
        let tables = self.tables(model, query)?;
        crate::lower::lower(model, query, &tables).map_err(|e| Failure::Internal(e.to_string()))
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
        let lowered = crate::lower::lower(model, query, tables)
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let mut out = Vec::new();
        for t in lowered.tables {
            let schema = Arc::new(t.plan.schema().as_arrow().clone());
            let batches = self
                .once(t.plan)
                .and_then(|plan| self.collect(plan))
                .map_err(|e| Failure::Data(data_error(None, e)))?;
            out.push(Computed {
                metric: t.metric,
                title: t.title,
                schema,
                batches,
            });
        }
        Ok(out)
    }

    /// Runs a plan to completion.
    pub fn collect(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
        self.runtime.block_on(async {
            let df = self.ctx.execute_logical_plan(plan).await?;
            df.collect().await
        })
    }

    /// `plan` with every aliased subplan that occurs more than once (a scan
    /// group read both for its values and for the breakdown values of the
    /// grid) run once and read from memory at each place. DataFusion runs a
    /// plan tree as written, so without this such a group scans its source
    /// twice. Group results are small: one row per bucket and breakdown.
    pub fn once(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        let key = |p: &LogicalPlan| format!("{}", p.display_indent_schema());
        let mut counts: HashMap<String, usize> = HashMap::new();
        plan.apply(|node| {
            if matches!(node, LogicalPlan::SubqueryAlias(_)) {
                *counts.entry(key(node)).or_default() += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if counts.values().all(|n| *n < 2) {
            return Ok(plan);
        }
        let mut done: HashMap<String, LogicalPlan> = HashMap::new();
        plan.transform_down(|node| {
            let LogicalPlan::SubqueryAlias(alias) = &node else {
                return Ok(Transformed::no(node));
            };
            let k = key(&node);
            if counts.get(&k).is_none_or(|n| *n < 2) {
                return Ok(Transformed::no(node));
            }
            if let Some(p) = done.get(&k) {
                return Ok(Transformed::new(p.clone(), true, TreeNodeRecursion::Jump));
            }
            let name = alias.alias.to_string();
            let schema = Arc::new(node.schema().as_arrow().clone());
            let batches = self
                .collect(node.clone())?
                .into_iter()
                .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let table = MemTable::try_new(Arc::clone(&schema), vec![batches])?;
            let scan = datafusion::logical_expr::LogicalPlanBuilder::scan(
                format!("__once_{name}"),
                provider_as_source(Arc::new(table)),
                None,
            )?
            .alias(name)?
            .build()?;
            done.insert(k, scan.clone());
            Ok(Transformed::new(scan, true, TreeNodeRecursion::Jump))
        })
        .map(|t| t.data)
    }

    /// The plan after DataFusion's optimizer.
    pub fn optimize(&self, plan: &LogicalPlan) -> Result<LogicalPlan> {
        self.ctx.state().optimize(plan)
    }

    /// The physical plan DataFusion would execute.
    pub fn physical(&self, plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>> {
        self.runtime
            .block_on(async { self.ctx.state().create_physical_plan(plan).await })
    }
}

fn url(path: &Path) -> Result<ListingTableUrl> {
    let abs = std::path::absolute(path)?;
    ListingTableUrl::parse(abs.to_string_lossy())
}

/// The directory above the first `key=value` directory of a partitioned file.
fn partition_root(file: &Path) -> PathBuf {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
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

/// A diagnostic for an error met while reading or computing data.
pub fn data_error(source: Option<&str>, e: DataFusionError) -> Diagnostic {
    let root = e.find_root();
    let exhausted = matches!(root, DataFusionError::ResourcesExhausted(_));
    let e = root.to_string();
    if exhausted {
        return Diagnostic::new(
            Code::MemoryExhausted,
            "the run needs more memory than allowed",
        )
        .with_help(format!(
            "{e}; raise `--memory-limit`, or narrow the range or breakdown"
        ));
    }
    let what = match source {
        Some(s) => format!("cannot read the data of source `{s}`"),
        None => "cannot read or compute the data".to_string(),
    };
    Diagnostic::new(Code::DataUnreadable, what).with_help(format!(
        "{e}; check that the source's Parquet files are complete and unchanged since `metricc check` (regenerate or remove a damaged file)"
    ))
}

/// Runs the funnel aggregate (`metricc_funnel`, behind funnels and
/// `time_between`) in one phase: rows are hash-partitioned by entity, then
/// aggregated once. DataFusion's default is a partial aggregate per input
/// partition, a repartition of its states and a final merge; for a funnel the
/// partial state is every matching event of an entity, so that phase shrinks
/// nothing and only copies the events into lists and back.
#[derive(Debug)]
struct OnePhaseFunnels;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for OnePhaseFunnels {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
        use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
        use datafusion::physical_plan::repartition::RepartitionExec;
        plan.transform_down(|plan| {
            let Some(last) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            if *last.mode() != AggregateMode::FinalPartitioned {
                return Ok(Transformed::no(plan));
            }
            let Some(shuffle) = last.input().downcast_ref::<RepartitionExec>() else {
                return Ok(Transformed::no(plan));
            };
            let Some(first) = shuffle.input().downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            let funnels = !first.aggr_expr().is_empty()
                && first
                    .aggr_expr()
                    .iter()
                    .all(|a| a.fun().name() == crate::lower::functions::FUNNEL);
            if *first.mode() != AggregateMode::Partial || !funnels || first.group_expr().is_empty()
            {
                return Ok(Transformed::no(plan));
            }
            let partitions = shuffle.partitioning().partition_count();
            let by_entity = RepartitionExec::try_new(
                Arc::clone(first.input()),
                datafusion::physical_plan::Partitioning::Hash(
                    first.group_expr().input_exprs(),
                    partitions,
                ),
            )?;
            let once = AggregateExec::try_new(
                AggregateMode::SinglePartitioned,
                first.group_expr().clone(),
                first.aggr_expr().to_vec(),
                first.filter_expr().to_vec(),
                Arc::new(by_entity),
                first.input_schema(),
            )?;
            if once.schema() != last.schema() {
                return Ok(Transformed::no(plan));
            }
            Ok(Transformed::yes(Arc::new(once) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "metricc_one_phase_funnels"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
