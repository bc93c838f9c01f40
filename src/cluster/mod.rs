//! execute (distributed): the plans `run` builds, run on an Apache
//! DataFusion Ballista cluster instead of in this process. The client sends
//! each optimized logical plan to a scheduler, which plans it with the same
//! session (metricc's optimizer and physical rules) and hands its stages to
//! executors. Plans cross processes through [`codec`], which writes every
//! metricc function whole. Built with the `distributed` feature.

pub mod codec;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::common::Result;
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

/// `config` with Ballista's settings and metricc's codecs.
pub fn config(config: SessionConfig) -> SessionConfig {
    config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()))
}

/// A session whose queries run on `cluster`, planned with `state`.
pub async fn context(cluster: &Cluster, state: SessionState) -> Result<SessionContext> {
    match cluster {
        Cluster::Standalone => SessionContext::standalone_with_state(state).await,
        Cluster::Remote(url) => SessionContext::remote_with_state(url, state).await,
    }
}
