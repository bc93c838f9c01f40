//! Whatever `check` accepts, `run` runs (issue 17, part 2), as a property:
//! random definition files built from the language's kinds and options are
//! checked, and every one that checks clean is computed with a random
//! `--by`, `--group-by`, `--from`, `--to`, `--threads` and `--memory-limit`.
//! A run may fail only as a user's run can (a refused query, memory
//! exhausted); never as a bug (a plan DataFusion rejects: exit 101), a data
//! error on good data (E0305), or a panic.
//!
//! `METRICC_RANDOM_DEFINITIONS=N` sets the number of cases (default 200;
//! 10,000 were run locally before this landed, see issue 17's notes).

use crate::fixtures::typed_csv_to_parquet;
use metricc::driver;
use metricc::engine::{self, Engine, Failure};
use metricc::semantic::query::{self, Request, Word};
use metricc::syntax::ast::Grain;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::fmt::Write as _;
use std::path::Path;

/// About 400 events of 24 developers over four weeks, and their payments:
/// enough rows for every kind to see repeats, gaps, ties and nulls.
fn write_data(dir: &Path) {
    let mut events = String::from(
        "ts:timestamp,developer_id,event,status:int,endpoint,latency_ms:float,sdk,api_key_id\n",
    );
    let mut payments = String::from("paid_at:timestamp,developer_id,amount:float,kind\n");
    let kinds = [
        "signup",
        "api_key_created",
        "api_call",
        "api_call",
        "webhook",
        "key_revoked",
    ];
    for d in 0..24u32 {
        let start = d % 20;
        for k in 0..(3 + d % 30) {
            let day = 1 + (start + k * (1 + d % 3)) % 28;
            let hour = (d * 7 + k * 5) % 24;
            let event = if k == 0 {
                "signup"
            } else {
                kinds[((d + k) % 6) as usize]
            };
            let status = match (event, (d + k) % 5) {
                ("api_call", 0) => "500",
                ("api_call", 1) => "404",
                ("api_call", _) => "200",
                _ => "",
            };
            let latency = if event == "api_call" {
                format!("{}", (d * 37 + k * 11) % 900)
            } else {
                String::new()
            };
            let endpoint = if event == "api_call" {
                ["/a", "/b", "/c"][(k % 3) as usize]
            } else {
                ""
            };
            let sdk = ["python", "node", ""][(d % 3) as usize];
            let key = if k > 0 {
                format!("k{}", d % 4)
            } else {
                String::new()
            };
            let _ = writeln!(
                events,
                "2026-03-{day:02}T{hour:02}:{:02}:00Z,d{d},{event},{status},{endpoint},{latency},{sdk},{key}",
                (k * 13) % 60
            );
        }
        if d % 2 == 0 {
            for m in 0..(1 + d % 3) {
                let _ = writeln!(
                    payments,
                    "2026-03-{:02}T12:00:00Z,d{d},{}.5,{}",
                    1 + (d + m * 9) % 28,
                    10 + d * m,
                    ["subscription", "overage"][(m % 2) as usize]
                );
            }
        }
    }
    typed_csv_to_parquet(&events, &dir.join("data/events.parquet"));
    typed_csv_to_parquet(&payments, &dir.join("data/payments.parquet"));
}

const SOURCES: &str = "sources:\n  events: { path: data/events.parquet, time: ts, entity: developer_id, dimensions: [event, endpoint, sdk] }\n  payments: { path: data/payments.parquet, time: paid_at, entity: developer_id, dimensions: [kind] }\n";

const PREDICATES: &[&str] = &[
    "event = 'signup'",
    "event = 'api_call'",
    "event = 'api_key_created'",
    "event = 'api_call' and status < 400",
    "status >= 400",
    "latency_ms > 100",
    "endpoint in ('/a', '/b')",
    "sdk is null",
    "not status between 500 and 599",
    "lower(sdk) like 'py%'",
    "hour(ts) between 9 and 17",
    "ts >= timestamp '2026-03-10 10:00'",
    "event = 'webhook' or status = 404",
    "day_of_week(ts) in (1, 7)",
    "coalesce(latency_ms, 0) / 0 > 1",
    "length(endpoint) = 2 and starts_with(endpoint, '/')",
    "date(ts) = date '2026-03-05'",
    "true",
];

const NUMBERS: &[&str] = &[
    "status",
    "latency_ms",
    "latency_ms * 2",
    "if(status >= 400, 1, 0.5)",
    "round(latency_ms, DIGITS)",
    "coalesce(latency_ms, 0)",
    "abs(latency_ms - 100)",
    "nullif(status, 200)",
    "length(endpoint)",
    "day_of_week(ts)",
    "hour(ts)",
    "latency_ms / 0",
    "status % 7",
    "-status",
    "least(status, 300)",
    "greatest(latency_ms, 1e300 * 1e10)",
];

const DIGITS: &[&str] = &[
    "0",
    "2",
    "-1",
    "-3",
    "400",
    "-400",
    "9223372036854775807",
    "-9223372036854775808",
    "18",
];

const DURATIONS: &[&str] = &["1h", "1d", "7d", "14d", "30d", "2w", "500ms"];
const GRAINS: &[&str] = &["day", "week", "month", "quarter", "year", "hour"];

fn pick<'a>(list: &[&'a str], n: u32) -> &'a str {
    list[n as usize % list.len()]
}

/// An aggregate over `events` (or `payments` when `payments`).
fn aggregate(a: u32, b: u32, payments: bool) -> String {
    let number = if payments {
        "amount".to_string()
    } else {
        pick(NUMBERS, b).replace("DIGITS", pick(DIGITS, a / 16))
    };
    match a % 12 {
        0 => "count(*)".into(),
        1 => format!("count({number})"),
        2 => "count_distinct(developer_id)".into(),
        3 => format!("sum({number})"),
        4 => format!("avg({number})"),
        5 => format!("min({number})"),
        6 => format!("max({number})"),
        7 => format!("median({number})"),
        8 => format!(
            "percentile({number}, {})",
            ["0", "0.5", "0.99", "1"][(b % 4) as usize]
        ),
        9 if !payments => format!("count(*) filter (where {})", pick(PREDICATES, b)),
        10 => format!("round(sum({number}), {})", pick(DIGITS, b)),
        _ => format!("sum({number}) / nullif(count(*), 0)"),
    }
}

/// Metric `i` of a file, from eight random numbers; `names` are the
/// metrics before it.
fn metric(i: usize, p: &[u32; 8], names: &[String]) -> String {
    let earlier = |n: u32| -> Option<&str> {
        (!names.is_empty()).then(|| names[n as usize % names.len()].as_str())
    };
    let filter = |n: u32| {
        if n.is_multiple_of(3) {
            format!(", filter: \"{}\"", pick(PREDICATES, n / 3))
        } else {
            String::new()
        }
    };
    let breakdown = |n: u32| match n % 5 {
        0 => ", breakdown: [event]",
        1 => ", breakdown: [sdk]",
        _ => "",
    };
    let name = format!("m{i}");
    let body = match (p[0] % 12, earlier(p[1]), earlier(p[2])) {
        (3, Some(a), Some(b)) => format!("ratio: {{ numerator: {a}, denominator: {b} }}"),
        (4, Some(a), Some(b)) => {
            let f = [
                "A + B",
                "A * 2 - B",
                "round(A / nullif(B, 0), DIGITS)",
                "if(A > B, A, 0.5)",
                "coalesce(A, 0)",
                "A % 3",
                "greatest(A, B)",
                "-A",
                "abs(A - B) / (A + B)",
                "least(A, B, 1e308 * 10)",
            ][p[3] as usize % 10];
            let f = f
                .replace('A', a)
                .replace('B', b)
                .replace("DIGITS", pick(DIGITS, p[4]));
            format!("formula: \"{f}\"")
        }
        (5, Some(a), _) => match p[3] % 4 {
            0 => format!("cumulative: {{ metric: {a} }}"),
            1 => format!(
                "cumulative: {{ metric: {a}, window: {} }}",
                pick(DURATIONS, p[4])
            ),
            _ => format!(
                "cumulative: {{ metric: {a}, to_date: {} }}",
                pick(&GRAINS[..5], p[4])
            ),
        },
        (6, _, _) => {
            let steps: Vec<String> = (0..2 + p[1] % 3)
                .map(|k| {
                    let pred = pick(PREDICATES, p[2].wrapping_add(k * 7));
                    if (p[3] >> k).is_multiple_of(4) {
                        format!(
                            "{{ s{k}: {{ where: \"{pred}\", within: {} }} }}",
                            pick(DURATIONS, p[4] + k)
                        )
                    } else {
                        format!("{{ s{k}: \"{pred}\" }}")
                    }
                })
                .collect();
            let mut f = format!(
                "source: events{}, funnel: {{ steps: [{}], within: {}, order: {}, reuse_events: {}",
                breakdown(p[5]),
                steps.join(", "),
                pick(DURATIONS, p[5] / 5),
                ["ordered", "strict", "any"][(p[6] % 3) as usize],
                p[6].is_multiple_of(2)
            );
            if p[7].is_multiple_of(3) {
                let _ = write!(
                    f,
                    ", exclude: [{{ event: \"event = 'key_revoked'\", between: [s0, s1] }}]"
                );
            }
            if p[7] % 4 == 1 {
                f.push_str(", hold_constant: [api_key_id]");
            }
            let value =
                ["steps", "entered", "converted", "conversion_rate"][(p[7] / 4 % 4) as usize];
            let _ = write!(f, ", value: {value} }}");
            f
        }
        (7, _, _) => format!(
            "source: events{}, time_between: {{ from: \"{}\", to: \"{}\", statistic: {}, unit: {}{} }}",
            filter(p[1]),
            pick(PREDICATES, p[2]),
            pick(PREDICATES, p[3]),
            ["avg", "median", "min", "max", "p90", "p1", "p99"][(p[4] % 7) as usize],
            ["seconds", "minutes", "hours", "days"][(p[5] % 4) as usize],
            if p[6].is_multiple_of(2) {
                format!(", within: {}", pick(DURATIONS, p[6]))
            } else {
                String::new()
            }
        ),
        (8, _, _) => {
            let how = if p[2].is_multiple_of(2) {
                format!("window: {}", pick(DURATIONS, p[3]))
            } else {
                format!("calendar: {}", pick(&GRAINS[..5], p[3]))
            };
            format!(
                "source: events{}{}, active: {{ {how} }}",
                filter(p[1]),
                breakdown(p[4])
            )
        }
        (9, _, _) => format!(
            "source: events{}, retention: {{ cohort: \"{}\", return: \"{}\", period: {}, periods: {}, cohort_type: {}, match: {}, anchor: {} }}",
            filter(p[1]),
            pick(PREDICATES, p[2]),
            pick(PREDICATES, p[3]),
            pick(GRAINS, p[4]),
            1 + p[5] % 6,
            ["first_time", "recurring"][(p[6] % 2) as usize],
            ["on", "on_or_after"][(p[6] / 2 % 2) as usize],
            ["calendar", "rolling"][(p[7] % 2) as usize],
        ),
        (10, _, _) => format!(
            "source: events{}, churn: {{ window: {}, value: {} }}",
            filter(p[1]),
            pick(DURATIONS, p[2]),
            [
                "churned",
                "rate",
                "new",
                "returning",
                "resurrected",
                "dormant",
                "net_growth"
            ][(p[3] % 7) as usize]
        ),
        (11, Some(a), _) => format!(
            "cohort: {{ metric: {a}, source: events, event: \"{}\", period: {}, periods: {}, per_entity: {}, cumulative: {} }}",
            pick(PREDICATES, p[2]),
            pick(&GRAINS[..5], p[3]),
            1 + p[4] % 5,
            p[5].is_multiple_of(2),
            p[6].is_multiple_of(2)
        ),
        _ => {
            let payments = p[1].is_multiple_of(5);
            let mut m = aggregate(p[4], p[5], payments);
            if p[2].is_multiple_of(4) {
                let op = ["+", "-", "*", "/"][(p[3] % 4) as usize];
                m = format!("{m} {op} {}", aggregate(p[6], p[7], payments));
            }
            let occurrence = match p[3] / 4 % 5 {
                0 => ", occurrence: first",
                1 => ", occurrence: last",
                _ => "",
            };
            format!(
                "source: {}{}{occurrence}{}, measure: \"{m}\"",
                if payments { "payments" } else { "events" },
                if payments {
                    String::new()
                } else {
                    filter(p[2])
                },
                if payments { "" } else { breakdown(p[6]) },
            )
        }
    };
    format!("  {name}: {{ description: random, {body} }}\n")
}

fn definitions(specs: &[[u32; 8]]) -> String {
    let mut out = format!("{SOURCES}metrics:\n");
    let mut names = Vec::new();
    for (i, p) in specs.iter().enumerate() {
        out.push_str(&metric(i, p, &names));
        names.push(format!("m{i}"));
    }
    out
}

/// The run options of a case.
#[derive(Debug, Clone)]
struct Options {
    grain: Option<Grain>,
    group_by: Option<&'static str>,
    from_day: u32,
    days: u32,
    threads: usize,
    memory_limit: Option<usize>,
}

fn options() -> impl Strategy<Value = Options> {
    (0u32..8, 0u32..6, 20u32..40, 1u32..40, 1usize..4, 0u32..5).prop_map(
        |(g, d, from, days, threads, mem)| Options {
            grain: [
                None,
                None,
                Some(Grain::Day),
                Some(Grain::Week),
                Some(Grain::Month),
                Some(Grain::Hour),
                Some(Grain::Quarter),
                Some(Grain::Year),
            ][g as usize],
            group_by: [None, None, None, Some("event"), Some("sdk"), Some("kind")][d as usize],
            from_day: from,
            days,
            threads,
            memory_limit: [None, None, Some(2 << 20), Some(16 << 20), Some(256 << 20)]
                [mem as usize],
        },
    )
}

/// A day counted from 2026-02-01 as text.
fn day(n: u32) -> String {
    (chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap() + chrono::Days::new(u64::from(n)))
        .to_string()
}

/// Checks one file and runs it; `Err` says how it failed as a bug.
fn case(dir: &Path, defs: &str, o: &Options) -> Result<&'static str, String> {
    std::fs::write(dir.join("defs.yaml"), defs).unwrap();
    let checked = driver::check(dir);
    let Some(model) = checked.model.as_ref() else {
        return Ok("refused by check");
    };
    let request = Request {
        grain: o.grain,
        from: Some(Word::typed(day(o.from_day))),
        to: Some(Word::typed(day(o.from_day + o.days))),
        group_by: o.group_by.map(Word::typed).into_iter().collect(),
        ..Request::default()
    };
    let Ok(resolved) = query::resolve(&request, model) else {
        return Ok("query refused");
    };
    let engine = Engine::new(&engine::Options {
        threads: Some(o.threads),
        memory_limit: o.memory_limit,
        ..Default::default()
    })
    .map_err(|e| format!("engine: {e}"))?;
    match engine.compute(model, &resolved.query) {
        Ok(_) => Ok("ran"),
        Err(Failure::Data(d)) if d.code == metricc::diagnostics::Code::MemoryExhausted => {
            Ok("memory exhausted")
        }
        Err(Failure::Data(d)) => Err(format!(
            "a data error on good data: {} {}: {:?}",
            d.code, d.message, d.help
        )),
        Err(Failure::Internal(e)) => Err(format!("exit 101: {e}")),
    }
}

#[test]
fn every_definition_that_checks_runs() {
    let cases: u32 = std::env::var("METRICC_RANDOM_DEFINITIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    std::fs::write(
        tmp.path().join("metricc.yaml"),
        "name: random\ntime_zone: America/New_York\nfiles: [defs.yaml]\n",
    )
    .unwrap();
    let tally = std::cell::RefCell::new(std::collections::BTreeMap::<&str, u32>::new());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let specs = proptest::collection::vec(any::<[u32; 8]>(), 1..7);
    let result = runner.run(&(specs, options()), |(specs, o)| {
        let defs = definitions(&specs);
        let outcome = case(tmp.path(), &defs, &o);
        match outcome {
            Ok(what) => {
                *tally.borrow_mut().entry(what).or_default() += 1;
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(format!("{e}\noptions: {o:?}\n{defs}"))),
        }
    });
    let tally = tally.into_inner();
    eprintln!("random definitions: {tally:?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator must reach `run` often, or the property says little.
    let ran = tally.get("ran").copied().unwrap_or(0);
    assert!(
        ran * 4 >= cases,
        "only {ran} of {cases} random files ran: {tally:?}"
    );
}
