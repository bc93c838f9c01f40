//! `metricc scheduler`: a Ballista scheduler that plans with metricc's rules
//! and reads metricc's functions (docs/DISTRIBUTED.md).

use super::ExitStatus;
use std::net::SocketAddr;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// The host name executors and clients reach this scheduler by.
    /// Default: the address it listens on.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
}

pub fn scheduler(args: &Args) -> ExitStatus {
    let host = args
        .external_host
        .clone()
        .unwrap_or_else(|| args.bind.ip().to_string());
    match crate::cluster::serve::scheduler(args.bind, host) {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: the scheduler stopped: {e}");
            ExitStatus::Findings
        }
    }
}
