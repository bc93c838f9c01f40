//! The processes of a cluster that knows metricc: a Ballista scheduler that
//! plans a client's queries with metricc's rules, and executors that read
//! metricc's functions from the plans they are sent. Both are Ballista's own
//! servers (`ballista-scheduler`, `ballista-executor`); metricc supplies
//! the session, the codecs and the object stores through their `override_*`
//! settings.

use super::codec::{LogicalCodec, PhysicalCodec};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The stack of each server thread: plans arrive as protobuf, whose decoder
/// recurses once per level of a plan, and a metrics table's plan is deep.
const STACK: usize = 64 << 20;

/// How long an executor waits for its scheduler to accept it.
const SCHEDULER_WAIT_SECONDS: u16 = 30;

/// A scheduler listening on `bind`, until the process is stopped.
/// `external_host` is the name executors and clients reach it by.
pub fn scheduler(bind: SocketAddr, external_host: String) -> Result<(), String> {
    let mut config = SchedulerConfig::default()
        .with_hostname(external_host)
        .with_port(bind.port())
        .with_override_config_producer(Arc::new(super::base_config))
        .with_override_session_builder(Arc::new(|config| {
            let runtime = super::runtime_env(RuntimeEnvBuilder::new())?;
            Ok(crate::engine::scheduler_session(config, runtime))
        }));
    config.bind_host = bind.ip().to_string();
    config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    runtime()?.block_on(async move {
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!("metricc scheduler listening on {bind}");
        start_server(cluster, bind, Arc::new(config))
            .await
            .map_err(|e| e.to_string())
    })
}

/// What an executor needs to know.
#[derive(Debug, Clone)]
pub struct Executor {
    /// The scheduler's address.
    pub scheduler: (String, u16),
    /// Where the executor serves the partitions it computed (Arrow Flight).
    pub bind: SocketAddr,
    /// Its gRPC port, for the scheduler's calls.
    pub grpc_port: u16,
    /// The name the scheduler and other executors reach it by.
    pub external_host: Option<String>,
    /// Tasks run at once; all cores when `None`.
    pub concurrent_tasks: Option<usize>,
    /// Memory for the operators of all its tasks, in bytes.
    pub memory_limit: Option<u64>,
    /// Where its shuffle files and spills go; a new temporary directory
    /// when `None`.
    pub work_dir: Option<PathBuf>,
}

/// An executor serving `options.scheduler`, until the process is stopped.
pub fn executor(options: Executor) -> Result<(), String> {
    let work_dir = match &options.work_dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("metricc-executor-")
            .tempdir()
            .map_err(|e| format!("cannot make a work directory: {e}"))?
            .keep(),
    };
    let temp = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        external_host: options.external_host.clone(),
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        scheduler_connect_timeout_seconds: SCHEDULER_WAIT_SECONDS,
        vcores: options.concurrent_tasks.unwrap_or(0),
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        // 0 is Ballista's "unbounded".
        memory_pool_size: Some(options.memory_limit.unwrap_or(0)),
        override_config_producer: Some(Arc::new(super::base_config)),
        override_runtime_producer: Some(Arc::new(move |_| {
            super::runtime_env(RuntimeEnvBuilder::new().with_temp_file_path(&temp))
        })),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    runtime()?.block_on(async move {
        eprintln!(
            "metricc executor on {} (work directory {}), scheduler {}:{}",
            options.bind,
            work_dir.display(),
            options.scheduler.0,
            options.scheduler.1
        );
        start_executor_process(Arc::new(config))
            .await
            .map_err(|e| e.to_string())
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}
