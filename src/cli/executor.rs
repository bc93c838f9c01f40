//! `metricc executor`: a Ballista executor that reads metricc's functions
//! from the plans its scheduler sends (docs/DISTRIBUTED.md).

use super::ExitStatus;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scheduler to serve, `HOST:PORT` (or `df://HOST:PORT`).
    #[arg(long, default_value = "127.0.0.1:50050", value_parser = scheduler_address)]
    pub scheduler: (String, u16),
    /// The address to serve computed partitions on (Arrow Flight).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// The port of the executor's gRPC service, on the same host.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// The host name the scheduler and other executors reach this one by.
    /// Default: the address it listens on.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once. Default: all cores.
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Memory for the operators of all running tasks, e.g. `4G`; beyond it
    /// operators spill to the work directory. Default: no limit.
    #[arg(long, value_parser = super::run::parse_bytes)]
    pub memory_limit: Option<usize>,
    /// Where shuffle files and spills go. Default: a new temporary
    /// directory.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

pub fn executor(args: &Args) -> ExitStatus {
    let options = crate::cluster::serve::Executor {
        scheduler: args.scheduler.clone(),
        bind: args.bind,
        grpc_port: args.grpc_port,
        external_host: args.external_host.clone(),
        concurrent_tasks: args.concurrent_tasks,
        memory_limit: args.memory_limit.map(|b| b as u64),
        work_dir: args.work_dir.clone(),
    };
    match crate::cluster::serve::executor(options) {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: the executor stopped: {e}");
            ExitStatus::Findings
        }
    }
}

/// Parses `HOST:PORT`, with or without `df://`.
fn scheduler_address(s: &str) -> Result<(String, u16), String> {
    let t = s.trim().trim_start_matches("df://");
    let (host, port) = t
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` has no port; write `HOST:PORT`"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` is not a port number"))?;
    if host.is_empty() {
        return Err(format!("`{s}` has no host; write `HOST:PORT`"));
    }
    Ok((host.to_string(), port))
}
