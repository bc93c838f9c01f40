//! execute (distributed): the plans `run` builds, run on an Apache
//! DataFusion Ballista cluster instead of in this process. The client sends
//! each optimized logical plan to a scheduler, which plans it with the same
//! session (metricc's optimizer and physical rules) and hands its stages to
//! executors. Plans cross processes through [`codec`], which writes every
//! metricc function whole. Built with the `distributed` feature.

pub mod codec;
pub mod serve;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::common::config::ConfigExtension;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// Where plans run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// A scheduler and an executor started in this process, over gRPC on
    /// loopback (Ballista's standalone mode): for tests and trials.
    Standalone,
    /// The scheduler at this URL, `df://HOST:PORT`.
    Remote(String),
}

datafusion::common::extensions_options! {
    /// The run's settings a scheduler plans with. A client sends every
    /// setting of its session to the scheduler as text; these are
    /// metricc's, under `metricc.`.
    pub struct Settings {
        /// A funnel's rows are sorted by entity (a memory-limited run), so
        /// that no entity's events need be held whole.
        pub sort_sequences: bool, default = false
    }
}

impl ConfigExtension for Settings {
    const PREFIX: &'static str = "metricc";
}

/// `config` with Ballista's settings, metricc's codecs and the run's
/// [`Settings`].
pub fn config(config: SessionConfig, sort_sequences: bool) -> SessionConfig {
    config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()))
        .with_option_extension(Settings { sort_sequences })
}

/// The configuration a scheduler or an executor starts a client's session
/// from, before the client's settings are applied: Ballista's, with
/// metricc's [`Settings`] known, so that they can be set.
pub fn base_config() -> SessionConfig {
    SessionConfig::new_with_ballista().with_option_extension(Settings::default())
}

/// A session whose queries run on `cluster`, planned with `state`. A
/// scheduler that cannot be reached is an [`Unreachable`] error.
pub async fn context(cluster: &Cluster, state: SessionState) -> Result<SessionContext> {
    match cluster {
        Cluster::Standalone => SessionContext::standalone_with_state(state).await,
        Cluster::Remote(url) => {
            let unreachable = |cause: String| {
                DataFusionError::External(Box::new(Unreachable {
                    url: url.clone(),
                    cause,
                }))
            };
            // Ballista connects at the first query, and its error would
            // read as a data error of whichever source came first: ask the
            // port first.
            let address = url.trim_start_matches("df://");
            match tokio::time::timeout(CONNECT, tokio::net::TcpStream::connect(address)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Err(_) => return Err(unreachable(format!("no answer within {CONNECT:?}"))),
            }
            SessionContext::remote_with_state(url, state)
                .await
                .map_err(|e| unreachable(e.to_string()))
        }
    }
}

/// How long a scheduler has to accept a connection.
const CONNECT: std::time::Duration = std::time::Duration::from_secs(10);

/// No scheduler answered at `url`.
#[derive(Debug)]
pub struct Unreachable {
    pub url: String,
    pub cause: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no Ballista scheduler answered at {}: {}",
            self.url, self.cause
        )
    }
}

impl std::error::Error for Unreachable {}

/// The runtime a scheduler or executor gives a client's session: `builder`
/// (its temporary directory) with the object stores sources may name.
pub fn runtime_env(
    builder: datafusion::execution::runtime_env::RuntimeEnvBuilder,
) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    builder
        .with_object_store_registry(Arc::new(crate::storage::Registry::default()))
        .build_arc()
}

/// The stages a Ballista scheduler planning with `state` cuts `plan` into,
/// displayed, in the order they run.
pub async fn stages(
    state: &datafusion::execution::SessionState,
    plan: &datafusion::logical_expr::LogicalPlan,
) -> Result<Vec<String>> {
    use ballista_scheduler::planner::{DefaultDistributedPlanner, DistributedPlanner};
    use datafusion::physical_plan::{ExecutionPlan, displayable};
    let physical = state.create_physical_plan(plan).await?;
    let job = ballista_core::ids::JobId::new("explain");
    let stages = DefaultDistributedPlanner::new()
        .plan_query_stages(&job, physical, state.config().options())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(stages
        .iter()
        .map(|s| {
            let plan: &dyn ExecutionPlan = s.as_ref();
            displayable(plan).indent(true).to_string()
        })
        .collect())
}
