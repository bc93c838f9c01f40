//! The `distributed` feature: the example computed on Ballista's in-process
//! cluster (a scheduler and an executor over gRPC on loopback) gives the
//! tables a local run gives, cell for cell.
#![cfg(feature = "distributed")]

use datafusion::arrow::util::pretty::pretty_format_batches;
use metricc::cluster::Cluster;
use metricc::engine::{Engine, Options};
use metricc::semantic::query::{self, Request, Word};
use metricc::syntax::ast::Grain;

/// Every table of `request` on the example, printed, on `engine`.
fn tables(engine: &Engine, request: &Request) -> Vec<(String, String)> {
    let checked = metricc::driver::check(std::path::Path::new("metrics"));
    let model = checked.model.expect("the example checks");
    let q = query::resolve(request, &model).unwrap().query;
    engine
        .compute(&model, &q)
        .unwrap()
        .into_iter()
        .map(|t| {
            let text = pretty_format_batches(&t.batches).unwrap().to_string();
            (t.title, text)
        })
        .collect()
}

#[test]
fn the_example_on_a_standalone_cluster_matches_a_local_run() {
    let local = Engine::new(&Options::default()).unwrap();
    let cluster = Engine::new(&Options {
        cluster: Some(Cluster::Standalone),
        ..Options::default()
    })
    .unwrap();
    for request in [
        Request {
            grain: Some(Grain::Week),
            ..Request::default()
        },
        Request {
            grain: Some(Grain::Day),
            ..Request::default()
        },
        Request {
            grain: Some(Grain::Month),
            group_by: vec![Word::typed("sdk")],
            metrics: [
                "signups",
                "activation_rate",
                "onboarding",
                "retention",
                "requests",
                "latency_p95",
            ]
            .iter()
            .map(|m| Word::typed(*m))
            .collect(),
            ..Request::default()
        },
    ] {
        let want = tables(&local, &request);
        let started = std::time::Instant::now();
        let got = tables(&cluster, &request);
        eprintln!(
            "{} metrics on the cluster in {:?}",
            request.metrics.len(),
            started.elapsed()
        );
        assert_eq!(got.len(), want.len());
        for ((title, w), (_, g)) in want.iter().zip(&got) {
            assert_eq!(g, w, "{title} differs on the cluster");
        }
    }
}

/// The aggregates of `plan` named `name`, in plan order.
fn aggregates(
    plan: &datafusion::logical_expr::LogicalPlan,
    name: &str,
) -> Vec<datafusion::logical_expr::AggregateUDF> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    let mut out = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::AggregateFunction(a) = e
                    && a.func.name() == name
                {
                    out.push(a.func.as_ref().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .unwrap();
    out
}

/// The trap of sending functions by name, shown on the plan a client
/// sends: the receiver knows one funnel under `metricc_funnel` (as an
/// executor's registry would). By name, every funnel of the plan comes back
/// as that one; through metricc's codec, each comes back as itself.
#[test]
fn funnels_of_one_name_keep_their_settings_across_processes() {
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    };
    use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
    // Two funnels on two sources: two calls of `metricc_funnel` in one
    // plan, with two windows (one source's funnels share one call).
    let dir = tempfile::tempdir().unwrap();
    crate::fixtures::write_data(dir.path());
    std::fs::write(
        dir.path().join("metricc.yaml"),
        "name: t\ndefault_range: { from: 2026-03-01, to: 2026-03-15 }\n\
         sources:\n\
         \x20 events: { path: data/events.parquet, time: ts, entity: developer_id }\n\
         \x20 page_views: { path: data/page_views.parquet, time: ts, entity: visitor_id }\n\
         metrics:\n\
         \x20 keyed: { description: k, source: events, funnel: { steps: [a: \"event = 'signup'\", b: \"event = 'api_call'\"], within: 7d, value: conversion_rate } }\n\
         \x20 browsed: { description: b, source: page_views, funnel: { steps: [a: \"page = '/'\", b: \"page = '/docs'\"], within: 14d, value: conversion_rate } }\n",
    )
    .unwrap();
    let model = metricc::driver::check(dir.path()).model.expect("checks");
    let request = Request {
        grain: Some(Grain::Week),
        ..Request::default()
    };
    let q = query::resolve(&request, &model).unwrap().query;
    let engine = Engine::new(&Options::default()).unwrap();
    let plan = engine.plan(&model, &q).unwrap().tables.remove(0).plan;
    let sent = aggregates(&plan, "metricc_funnel");
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1]);

    let receiver = datafusion::prelude::SessionContext::new();
    receiver.register_udaf(sent[0].clone());
    let task = receiver.task_ctx();
    let default = DefaultLogicalExtensionCodec {};
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &default).unwrap();
    let by_name = logical_plan_from_bytes_with_extension_codec(&bytes, &task, &default).unwrap();
    assert_eq!(
        aggregates(&by_name, "metricc_funnel"),
        vec![sent[0].clone(); 2]
    );

    let codec = metricc::cluster::codec::LogicalCodec::default();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
    let whole = logical_plan_from_bytes_with_extension_codec(&bytes, &task, &codec).unwrap();
    assert_eq!(aggregates(&whole, "metricc_funnel"), sent);
}

/// `metricc run --cluster standalone` prints what a local run prints, and
/// a `--cluster` that is not one is a usage error.
#[test]
fn run_on_a_cluster_prints_what_a_local_run_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run", "-p", "metrics", "--by", "month", "--format", "csv", "-q",
        ];
        args.extend(extra);
        crate::run::metricc(&args, root)
    };
    let local = run(&[]);
    let cluster = run(&["--cluster", "standalone"]);
    assert_eq!(
        cluster.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cluster.stderr)
    );
    assert_eq!(cluster.stdout, local.stdout);
    assert!(local.stdout.len() > 1000);
    let bad = run(&["--cluster", "http://localhost:50050"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("df://HOST:PORT"));
}

/// No scheduler at `--cluster`: E0311, and nothing computed.
#[test]
fn an_unreachable_scheduler_is_e0311() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = crate::run::metricc(
        &[
            "run",
            "-p",
            "metrics",
            "--cluster",
            "df://127.0.0.1:1",
            "-q",
        ],
        root,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("E0311")
            && err.contains("cannot reach the Ballista scheduler at `df://127.0.0.1:1`"),
        "{err}"
    );
    assert!(!err.contains("Parquet"), "{err}");
}

/// Processes a test started: killed and reaped when it ends, pass or fail.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `port` accepts connections, failing when `child` (the
/// process that should open it, logging to `log`) has exited.
fn wait_for_port(port: u16, child: &mut std::process::Child, log: &std::path::Path) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the process for port {port} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "nothing listens on port {port} after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A Python that can run moto's S3 server, or `None` once the test is
/// reported skipped.
fn s3_python(test: &str) -> Option<String> {
    crate::run::python_that_imports(
        "METRICC_S3_PYTHON",
        "boto3, moto.server",
        "pip install 'moto[server]'",
        test,
    )
}

/// moto's S3 server on `port`, with bucket `metricc-test` holding the files
/// below `dir` under `example/`, ready; it logs to `work/s3.log`.
struct S3Server;

impl S3Server {
    fn start(
        python: &str,
        port: u16,
        dir: &std::path::Path,
        work: &std::path::Path,
    ) -> std::process::Child {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let log = work.join("s3.log");
        let mut server = std::process::Command::new(python)
            .arg(root.join("tests/cluster/s3_server.py"))
            .args([port.to_string(), "metricc-test".into(), "example/".into()])
            .arg(dir)
            .envs(s3_env(port).iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let _ = server.kill();
            let _ = server.wait();
            panic!(
                "the S3 server did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        server
    }
}

/// The credentials and endpoint every process of the test reads S3 with.
fn s3_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "metricc".into()),
        ("AWS_SECRET_ACCESS_KEY", "metricc".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// The example's definitions in `dir`, with every source and entity read
/// from `url` instead of `data/`.
fn example_on(url: &str, dir: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics");
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace("path: data/", &format!("path: {url}/"));
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
    }
}

/// The whole example, read from an S3-compatible server by a `metricc
/// scheduler` and two `metricc executor` processes, gives the bytes a local
/// run over the local files gives; `check` reads the footers there, and
/// refuses a bucket the command line did not allow.
#[test]
fn a_scheduler_and_two_executors_reading_s3_match_a_local_run() {
    const TEST: &str = "a_scheduler_and_two_executors_reading_s3_match_a_local_run";
    let Some(python) = s3_python(TEST) else {
        return;
    };
    use std::process::{Command, Stdio};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_metricc");
    let work = tempfile::tempdir().unwrap();
    let mut processes = Processes(Vec::new());

    // The server, with the example's data uploaded.
    let s3_port = free_port();
    let env = s3_env(s3_port);
    let server = S3Server::start(&python, s3_port, &root.join("metrics/data"), work.path());
    processes.0.push(server);

    // The scheduler, then two executors of one task each.
    let start = |name: &str, args: &[String]| {
        let log = work.path().join(format!("{name}.log"));
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (child, log)
    };
    let scheduler_port = free_port();
    let (mut scheduler, log) = start(
        "scheduler",
        &[
            "scheduler".into(),
            "--bind".into(),
            format!("127.0.0.1:{scheduler_port}"),
        ],
    );
    wait_for_port(scheduler_port, &mut scheduler, &log);
    processes.0.push(scheduler);
    for i in 0..2 {
        std::fs::create_dir_all(work.path().join(format!("executor{i}"))).unwrap();
        let (flight, grpc) = (free_port(), free_port());
        let (mut executor, log) = start(
            &format!("executor{i}"),
            &[
                "executor".into(),
                "--scheduler".into(),
                format!("127.0.0.1:{scheduler_port}"),
                "--bind".into(),
                format!("127.0.0.1:{flight}"),
                "--grpc-port".into(),
                grpc.to_string(),
                "--concurrent-tasks".into(),
                "1".into(),
                "--work-dir".into(),
                work.path()
                    .join(format!("executor{i}"))
                    .display()
                    .to_string(),
            ],
        );
        wait_for_port(flight, &mut executor, &log);
        processes.0.push(executor);
    }

    // The project, with its sources on the server.
    let project = work.path().join("project");
    std::fs::create_dir(&project).unwrap();
    example_on("s3://metricc-test/example", &project);
    let metricc = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(root)
            .output()
            .unwrap()
    };
    let project_arg = project.display().to_string();
    let allow = ["--allow-read", "s3://metricc-test/example"];

    // `check`: refused without the opt-in (and a prefix that is not a
    // directory of it is not one), footers read with it.
    for refused in [vec![], vec!["--allow-read", "s3://metricc-test/exam"]] {
        let mut args = vec!["check", project_arg.as_str()];
        args.extend(refused);
        let o = metricc(&args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.contains("E0005")
                && out.contains("is on object storage, which the command line has not allowed")
                && out.contains("s3://metricc-test`"),
            "{out}"
        );
    }
    let mut args = vec!["check", project_arg.as_str(), "--deny-warnings"];
    args.extend(allow);
    let o = metricc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // `run` on the cluster against a local run over the local files.
    let cluster = format!("df://127.0.0.1:{scheduler_port}");
    for request in [
        vec!["--by", "week"],
        vec![
            "--by",
            "month",
            "--group-by",
            "sdk",
            "signups",
            "activation_rate",
            "onboarding",
            "retention",
            "requests",
            "latency_p95",
        ],
    ] {
        let mut local = vec!["run", "-p", "metrics", "--format", "csv", "-q"];
        local.extend(&request);
        let want = metricc(&local);
        assert!(want.status.success());
        let mut remote = vec!["run", "-p", project_arg.as_str(), "--format", "csv", "-q"];
        remote.extend(allow);
        remote.extend(["--cluster", cluster.as_str()]);
        remote.extend(&request);
        let started = std::time::Instant::now();
        let got = metricc(&remote);
        eprintln!(
            "{request:?} on the cluster over S3 in {:?}",
            started.elapsed()
        );
        assert!(
            got.status.success(),
            "{}\nscheduler:\n{}",
            String::from_utf8_lossy(&got.stderr),
            std::fs::read_to_string(work.path().join("scheduler.log")).unwrap_or_default()
        );
        assert!(want.stdout.len() > 500);
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&want.stdout),
            "{request:?}"
        );
    }
    // Both executors computed: each wrote shuffle files.
    for i in 0..2 {
        let dir = work.path().join(format!("executor{i}"));
        let files = walk_count(&dir);
        assert!(files > 0, "executor {i} wrote no shuffle file");
    }
}

/// Files below `dir`.
fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| {
                    let p = e.unwrap().path();
                    if p.is_dir() { walk_count(&p) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `explain --cluster --physical` shows the stages a metricc scheduler
/// cuts a funnel into: its events shuffled by entity, then the funnel per
/// entity in one phase over the shuffled partitions.
#[test]
fn explain_on_a_cluster_shows_the_stages() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate::run::stdout_of(
        &[
            "explain",
            "-p",
            "metrics",
            "onboarding",
            "--by",
            "month",
            "--physical",
            "--cluster",
            "standalone",
        ],
        root,
    );
    assert!(out.contains("Stages on the cluster ("), "{out}");
    let stages: Vec<&str> = out.split("\n  Stage ").skip(1).collect();
    assert!(stages.len() >= 3, "{out}");
    let by_entity = stages
        .iter()
        .position(|s| s.contains("partitioning=Hash([developer_id@"))
        .unwrap_or_else(|| panic!("no stage shuffles by entity:\n{out}"));
    let funnel = stages
        .iter()
        .position(|s| {
            s.contains("mode=SinglePartitioned, gby=[developer_id@")
                && s.contains("metricc_funnel(")
        })
        .unwrap_or_else(|| panic!("no stage runs the funnel per entity in one phase:\n{out}"));
    assert!(funnel > by_entity);
    assert!(stages[funnel].contains(&format!("UnresolvedShuffleExec: stage={}", by_entity + 1)));
}

/// `report --cluster standalone` draws the page a local report draws.
#[test]
fn report_on_a_cluster_draws_what_a_local_report_draws() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "-p",
            "metrics",
            "-q",
            "signups",
            "onboarding",
            "retention",
            "ltv",
        ];
        args.extend(extra);
        let text = crate::run::stdout_of(&args, root);
        // The page says when it was made.
        text.lines()
            .filter(|l| !l.contains("Made by metricc"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let local = page(&[]);
    assert!(local.len() > 10_000);
    assert_eq!(page(&["--cluster", "standalone"]), local);
}

/// On object storage, a directory of `key=value` prefixes is a partitioned
/// source, hidden and `_` objects are not data, and a glob matches keys as
/// it matches local paths: each reads what the same local path reads. A
/// prefix with no Parquet object is E0212.
#[test]
fn partitions_globs_and_hidden_objects_on_s3_read_as_local_files_do() {
    const TEST: &str = "partitions_globs_and_hidden_objects_on_s3_read_as_local_files_do";
    let Some(python) = s3_python(TEST) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    let data = project.join("data");
    let header = "ts:timestamp,developer_id:string,event:string";
    let part = |rows: &[&str], to: &str| {
        let csv = format!("{header}\n{}", rows.join("\n"));
        crate::fixtures::typed_csv_to_parquet(&csv, &data.join(to));
    };
    part(
        &[
            "2026-01-05T10:00:00Z,d1,api_call",
            "2026-01-06T10:00:00Z,d2,api_call",
            "2026-01-13T10:00:00Z,d1,signup",
        ],
        "events/region=eu/part-0.parquet",
    );
    part(
        &["2026-01-05T11:00:00Z,d3,api_call"],
        "events/region=eu/part-1.parquet",
    );
    part(
        &[
            "2026-01-07T10:00:00Z,d4,api_call",
            "2026-01-14T10:00:00Z,d4,api_call",
        ],
        "events/region=us/part-0.parquet",
    );
    // Not data: a marker, and a hidden directory holding a bad file.
    std::fs::write(data.join("events/_SUCCESS"), b"").unwrap();
    std::fs::create_dir_all(data.join("events/.tmp")).unwrap();
    std::fs::write(data.join("events/.tmp/half.parquet"), b"PAR1 not parquet").unwrap();
    std::fs::write(
        project.join("metricc.yaml"),
        "name: t\nfiles: [defs.yaml]\n",
    )
    .unwrap();
    let defs = |events: &str, eu: &str| {
        format!(
            "sources:\n  events: {{ path: '{events}', time: ts, entity: developer_id, dimensions: [region] }}\n  eu: {{ path: '{eu}', time: ts, entity: developer_id, dimensions: [region] }}\nmetrics:\n  calls: {{ description: calls, source: events, measure: count(*) }}\n  developers: {{ description: developers, source: events, measure: count_distinct(developer_id) }}\n  eu_calls: {{ description: calls in the EU, source: eu, measure: count(*) }}\n"
        )
    };
    let run = |defs: String, args: &[&str], env: &[(&str, String)]| {
        std::fs::write(project.join("defs.yaml"), defs).unwrap();
        let mut all = vec![
            "run",
            "--format",
            "csv",
            "-q",
            "--by",
            "week",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-19",
        ];
        all.extend(args);
        std::process::Command::new(env!("CARGO_BIN_EXE_metricc"))
            .args(&all)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .current_dir(&project)
            .output()
            .unwrap()
    };

    let port = free_port();
    let env = s3_env(port);
    let mut processes = Processes(Vec::new());
    processes
        .0
        .push(S3Server::start(&python, port, &data, work.path()));

    let local = run(
        defs("data/events", "data/events/region=e*/*.parquet"),
        &["--group-by", "region"],
        &[],
    );
    let want = String::from_utf8_lossy(&local.stdout).to_string();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    // Worked by hand: week of 01-05 has eu 3 calls (d1, d2, d3) and us 1
    // (d4); week of 01-12 has eu 1 (d1) and us 1 (d4); eu_calls only where
    // region is eu.
    assert!(want.contains("2026-01-05,eu,3,3,3"), "{want}");
    assert!(want.contains("2026-01-05,us,1,1,"), "{want}");
    assert!(want.contains("2026-01-12,eu,1,1,1"), "{want}");
    assert!(want.contains("2026-01-12,us,1,1,"), "{want}");

    let got = run(
        defs(
            "s3://metricc-test/example/events/",
            "s3://metricc-test/example/events/region=e*/*.parquet",
        ),
        &[
            "--group-by",
            "region",
            "--allow-read",
            "s3://metricc-test/example",
        ],
        &env,
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&got.stdout), want);

    // A prefix with nothing below it.
    std::fs::write(
        project.join("defs.yaml"),
        defs(
            "s3://metricc-test/example/nothing/",
            "s3://metricc-test/example/events/",
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_metricc"))
        .args([
            "check",
            "--format",
            "json",
            "--allow-read",
            "s3://metricc-test",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .current_dir(&project)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("\"E0212\"")
            && out.contains("`s3://metricc-test/example/nothing/` matches no `.parquet` object"),
        "{out}"
    );
}
