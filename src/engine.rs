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
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
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
    /// Bytes the values of each exact percentile in each group may hold
    /// before they are sorted into runs and runs are written to temporary
    /// files. Defaults to a sixteenth of `memory_limit`; unbounded without a
    /// limit.
    pub percentile_budget: Option<usize>,
}

/// A DataFusion session and the runtime that drives it.
pub struct Engine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    /// The exact percentile with a memory budget, when there is one.
    percentile: Option<Arc<datafusion::logical_expr::AggregateUDF>>,
    /// Whether operators share a memory limit.
    limited: bool,
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
        let percentile_budget = options
            .percentile_budget
            .or(options.memory_limit.map(|limit| limit / 16));
        let mut runtime_env = RuntimeEnvBuilder::new();
        if let Some(limit) = options.memory_limit {
            // The error on exhaustion names the largest consumers.
            let pool = TrackConsumersPool::new(
                FairSpillPool::new(limit),
                std::num::NonZeroUsize::new(3).unwrap(),
            );
            runtime_env = runtime_env.with_memory_pool(Arc::new(pool));
            // Spilled aggregate states are written and merged back in batches
            // of this many groups; a funnel's state is every event of an
            // entity, so the default 8192 makes batches of hundreds of MB.
            config = config.with_batch_size(SPILL_BATCH_ROWS);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime_env.build_arc()?)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(OnePhase {
                percentiles: percentile_budget.is_some(),
            }))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?;
        let percentile = percentile_budget.map(crate::lower::functions::bounded_percentile);
        Ok(Engine {
            ctx,
            runtime,
            percentile,
            limited: options.memory_limit.is_some(),
        })
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
            let batches = if self.limited {
                self.one_at_a_time(t.plan)
            } else {
                self.once(t.plan)
            }
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
        let plan = self.bounded(plan)?;
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
            let scan = self.in_memory(&node, &alias.alias.to_string(), done.len())?;
            done.insert(k, scan.clone());
            Ok(Transformed::new(scan, true, TreeNodeRecursion::Jump))
        })
        .map(|t| t.data)
    }

    /// `plan` with every aliased subplan that aggregates (a scan group, a
    /// funnel's or a retention's counts) run on its own, innermost first,
    /// and read from memory where it was; repeated ones run once. For runs
    /// under a memory limit: DataFusion's fair pool splits the limit among
    /// every spillable operator of the running plan, idle ones included, so
    /// a plan of many groups leaves each a small share (an exact
    /// `count_distinct` over one bucket cannot spill), where one group at a
    /// time gets the whole limit.
    pub fn one_at_a_time(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
        let key = |p: &LogicalPlan| format!("{}", p.display_indent_schema());
        let mut done: HashMap<String, LogicalPlan> = HashMap::new();
        plan.transform_up(|node| {
            let LogicalPlan::SubqueryAlias(alias) = &node else {
                return Ok(Transformed::no(node));
            };
            let mut aggregates = false;
            node.apply(|n| {
                aggregates |= matches!(n, LogicalPlan::Aggregate(_));
                Ok(if aggregates {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
            if !aggregates {
                return Ok(Transformed::no(node));
            }
            let k = key(&node);
            if let Some(p) = done.get(&k) {
                return Ok(Transformed::yes(p.clone()));
            }
            // The scan's name is unique: an enclosing alias's key shows only
            // the names of the scans below it, and must differ when they do.
            let scan = self.in_memory(&node, &alias.alias.to_string(), done.len())?;
            done.insert(k, scan.clone());
            Ok(Transformed::yes(scan))
        })
        .map(|t| t.data)
    }

    /// Runs `node` and gives a scan of its result, aliased `name`; the
    /// table is named after `name` and `n`.
    fn in_memory(&self, node: &LogicalPlan, name: &str, n: usize) -> Result<LogicalPlan> {
        let schema = Arc::new(node.schema().as_arrow().clone());
        let batches = self
            .collect(node.clone())?
            .into_iter()
            .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let table = MemTable::try_new(Arc::clone(&schema), vec![batches])?;
        datafusion::logical_expr::LogicalPlanBuilder::scan(
            format!("__once_{name}_{n}"),
            provider_as_source(Arc::new(table)),
            None,
        )?
        .alias(name)?
        .build()
    }

    /// The plan after DataFusion's optimizer.
    pub fn optimize(&self, plan: &LogicalPlan) -> Result<LogicalPlan> {
        self.ctx.state().optimize(plan)
    }

    /// The physical plan DataFusion would execute.
    pub fn physical(&self, plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.bounded(plan.clone())?;
        self.runtime
            .block_on(async { self.ctx.state().create_physical_plan(&plan).await })
    }

    /// `plan` with its exact percentiles held within the engine's budget.
    fn bounded(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        let Some(udaf) = &self.percentile else {
            return Ok(plan);
        };
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    datafusion::logical_expr::Expr::AggregateFunction(mut f)
                        if f.func.name() == crate::lower::functions::PERCENTILE =>
                    {
                        f.func = Arc::clone(udaf);
                        Ok(Transformed::yes(
                            datafusion::logical_expr::Expr::AggregateFunction(f),
                        ))
                    }
                    e => Ok(Transformed::no(e)),
                })
            })
        })
        .map(|t| t.data)
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

/// Runs some aggregates in one phase instead of DataFusion's partial
/// aggregate per input partition, exchange of states and final merge:
///
/// - the funnel aggregate (`metricc_funnel`, behind funnels and
///   `time_between`): rows are hash-partitioned by entity, then aggregated
///   once. A funnel's partial state is every matching event of an entity, so
///   the partial phase shrinks nothing and only copies events into lists and
///   back.
/// - with `percentiles` (a run with a percentile budget), every aggregate
///   holding an exact percentile: a partial state carries all of its values,
///   runs written to disk included, into memory at once.
#[derive(Debug)]
struct OnePhase {
    percentiles: bool,
}

impl OnePhase {
    fn applies(&self, partial: &datafusion::physical_plan::aggregates::AggregateExec) -> bool {
        use crate::lower::functions::{FUNNEL, PERCENTILE};
        let aggs = partial.aggr_expr();
        let funnels = !aggs.is_empty() && aggs.iter().all(|a| a.fun().name() == FUNNEL);
        let percentiles = self.percentiles && aggs.iter().any(|a| a.fun().name() == PERCENTILE);
        funnels || percentiles
    }
}

impl datafusion::physical_optimizer::PhysicalOptimizerRule for OnePhase {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
        use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
        use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
        use datafusion::physical_plan::repartition::RepartitionExec;
        plan.transform_down(|plan| {
            let Some(last) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            let grouped = match last.mode() {
                AggregateMode::FinalPartitioned => true,
                AggregateMode::Final => false,
                _ => return Ok(Transformed::no(plan)),
            };
            let exchange = last.input();
            let first = if grouped {
                exchange
                    .downcast_ref::<RepartitionExec>()
                    .map(|r| r.input())
            } else {
                exchange
                    .downcast_ref::<CoalescePartitionsExec>()
                    .map(|c| c.input())
            };
            let Some(first) = first.and_then(|f| f.downcast_ref::<AggregateExec>()) else {
                return Ok(Transformed::no(plan));
            };
            if *first.mode() != AggregateMode::Partial
                || !self.applies(first)
                || (grouped && first.group_expr().is_empty())
            {
                return Ok(Transformed::no(plan));
            }
            let (mode, input): (_, Arc<dyn ExecutionPlan>) = if grouped {
                let partitions = exchange
                    .properties()
                    .output_partitioning()
                    .partition_count();
                let by_group = RepartitionExec::try_new(
                    Arc::clone(first.input()),
                    datafusion::physical_plan::Partitioning::Hash(
                        first.group_expr().input_exprs(),
                        partitions,
                    ),
                )?;
                (AggregateMode::SinglePartitioned, Arc::new(by_group))
            } else {
                let all = CoalescePartitionsExec::new(Arc::clone(first.input()));
                (AggregateMode::Single, Arc::new(all))
            };
            let once = AggregateExec::try_new(
                mode,
                first.group_expr().clone(),
                first.aggr_expr().to_vec(),
                first.filter_expr().to_vec(),
                input,
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
        "metricc_one_phase"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
