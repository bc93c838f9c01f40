//! resolve: a request (what to compute, as the command line or a test file
//! wrote it) -> a [`Query`] for `lower`, or diagnostics placed on the
//! request's own words where it has spans.

use super::kinds::Kind;
use super::kinds::period_over_period::PeriodOverPeriod;
use super::model::{Metric, Model};
use crate::diagnostics::{Code, Diagnostic, suggestion_help};
use crate::span::Span;
use crate::syntax::ast::{Grain, Lookback};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// What to compute: metrics, time buckets, range and breakdown.
#[derive(Debug, Clone)]
pub struct Query {
    /// Metric names, in output order.
    pub metrics: Vec<String>,
    /// Bucket size; `None` for one total over the range.
    pub grain: Option<Grain>,
    pub range: Range,
    /// Dimensions to break down by, in output order.
    pub group_by: Vec<String>,
}

/// A half-open range of local wall-clock time: `from <= t < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

/// One word of a request, with where it was written when that is a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub value: String,
    pub span: Option<Span>,
}

impl Word {
    /// A word typed on the command line: no span.
    pub fn typed(value: impl Into<String>) -> Self {
        Word {
            value: value.into(),
            span: None,
        }
    }
}

/// What a user asked to compute, before it is checked against the model.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Metric names; every metric of the model when empty.
    pub metrics: Vec<Word>,
    pub grain: Option<Grain>,
    /// Start and end of the range, local time (`2026-01-05` or
    /// `2026-01-05T08:00`); the project's `default_range` when absent.
    pub from: Option<Word>,
    pub to: Option<Word>,
    /// Dimensions; the metrics' shared `breakdown` when empty.
    pub group_by: Vec<Word>,
    /// The request as a whole (a test's name), for problems of no one word.
    pub span: Option<Span>,
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub query: Query,
    /// Where the range came from, for `explain`.
    pub range_origin: &'static str,
    /// Metrics left out and why, for the user.
    pub notes: Vec<String>,
}

/// Places `d` on `word` (or the request): as its main label when it has
/// none, else as a secondary one.
fn place(d: Diagnostic, word: Option<&Word>, request: &Request) -> Diagnostic {
    let label = "asked here";
    match (word.and_then(|w| w.span).or(request.span), d.span) {
        (None, _) => d,
        (Some(s), None) => d.at(s, label),
        (Some(s), Some(_)) => d.with_secondary(s, label),
    }
}

/// Most time buckets one query may have: each is a row of the grid of
/// every table, so a range of 200 years by hour is refused, not planned.
pub const MAX_BUCKETS: usize = 1_000_000;

/// At least as many buckets of `grain` as `range` holds (a bucket cut by
/// either end counts whole).
fn most_buckets(grain: Grain, range: Range) -> usize {
    let span = range.to - range.from;
    let months = |t: NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month0());
    let n = match grain {
        Grain::Hour => span.num_hours() + 2,
        Grain::Day => span.num_days() + 2,
        Grain::Week => span.num_days() / 7 + 2,
        Grain::Month => months(range.to) - months(range.from) + 2,
        Grain::Quarter => (months(range.to) - months(range.from)) / 3 + 2,
        Grain::Year => i64::from(range.to.year() - range.from.year()) + 2,
    };
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Checks `request` against `model`.
pub fn resolve(request: &Request, model: &Model) -> Result<Resolved, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut notes = Vec::new();
    let explicit = !request.metrics.is_empty();
    let mut metrics: Vec<String> = Vec::new();
    if explicit {
        for n in &request.metrics {
            match model.metric(&n.value) {
                None => diags.push(place(
                    Diagnostic::new(
                        Code::UnknownMetricArgument,
                        format!("no metric named `{}`", n.value),
                    )
                    .with_help(suggestion_help(
                        &n.value,
                        "metrics",
                        model.metrics.iter().map(|m| m.name.as_str()),
                    )),
                    Some(n),
                    request,
                )),
                Some(_) if !metrics.contains(&n.value) => metrics.push(n.value.clone()),
                Some(_) => {}
            }
        }
    } else {
        metrics.extend(model.metrics.iter().map(|m| m.name.clone()));
    }

    let group_by = breakdown(
        request,
        model,
        explicit,
        &mut metrics,
        &mut diags,
        &mut notes,
    );
    if metrics.is_empty() && diags.is_empty() {
        // The notes are printed only with a result: say here why every
        // metric was skipped.
        let help = if notes.is_empty() {
            "name metrics that can be computed as asked".to_string()
        } else {
            format!(
                "{}; name metrics that can be computed as asked",
                notes.join("; ")
            )
        };
        diags.push(place(
            Diagnostic::new(Code::MetricNotComputable, "no metric to compute").with_help(help),
            None,
            request,
        ));
    }

    offsets(
        request,
        model,
        request.grain,
        explicit,
        &mut metrics,
        &mut diags,
        &mut notes,
    );
    let range = range(request, model, &mut diags);
    if let (Some(r), Some(grain)) = (range, request.grain)
        && most_buckets(grain, r) > MAX_BUCKETS
    {
        diags.push(place(
            Diagnostic::new(
                Code::InvalidRange,
                format!(
                    "the range {} .. {} holds more than {MAX_BUCKETS} {} buckets",
                    r.from,
                    r.to,
                    grain.as_str()
                ),
            )
            .with_help("narrow `--from`/`--to`, or choose a coarser `--by`"),
            request.from.as_ref().or(request.to.as_ref()),
            request,
        ));
    }
    let origin = if request.from.is_some() || request.to.is_some() {
        "from the command line"
    } else {
        "the project's `default_range`"
    };
    match range {
        Some(range) if diags.is_empty() => Ok(Resolved {
            query: Query {
                metrics,
                grain: request.grain,
                range,
                group_by: group_by.into_iter().map(|d| d.value).collect(),
            },
            range_origin: origin,
            notes,
        }),
        _ => Err(diags),
    }
}

/// The breakdown: the request's, or the one all `metrics` share. Drops the
/// metrics it cannot apply to (with a note, or an error when they were
/// named).
fn breakdown(
    request: &Request,
    model: &Model,
    explicit: bool,
    metrics: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
    notes: &mut Vec<String>,
) -> Vec<Word> {
    let mut group_by: Vec<Word> = request.group_by.clone();
    group_by.retain(|d| !d.value.trim().is_empty());
    if group_by.is_empty() {
        let mut defaults = metrics
            .iter()
            .filter_map(|n| model.metric(n))
            .map(|m| m.breakdown.clone());
        if let Some(first) = defaults.next() {
            if defaults.all(|b| b == first) {
                group_by = first.into_iter().map(Word::typed).collect();
            } else {
                notes.push("the metrics have different default breakdowns; computed without one (pass --group-by)".into());
            }
        }
    }
    if !group_by.is_empty() {
        let mut kept = Vec::new();
        let mut skipped = Vec::new();
        for n in metrics.iter() {
            let Some(m) = model.metric(n) else { continue };
            // The first dimension some source underneath does not declare.
            let missing = group_by.iter().find_map(|d| {
                m.breakdown_sources
                    .iter()
                    .find(|s| model.source(s).is_some_and(|s| !s.has_dimension(&d.value)))
                    .map(|s| (d, s))
            });
            match missing {
                None => kept.push(n.clone()),
                Some(_) if !explicit => skipped.push(n.clone()),
                Some((d, s)) => {
                    let declared: Vec<&str> = model
                        .source(s)
                        .map(|s| {
                            s.dimensions
                                .iter()
                                .chain(&s.attributes)
                                .map(String::as_str)
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut diag = Diagnostic::new(
                        Code::BreakdownNotPossible,
                        format!("`{n}` cannot be broken down by `{}`", d.value),
                    )
                    .at(
                        m.span,
                        format!(
                            "reads source `{s}`, which declares no dimension `{}`",
                            d.value
                        ),
                    )
                    .with_help(suggestion_help(
                        &d.value,
                        "dimensions",
                        declared.iter().copied(),
                    ));
                    if let Some(src) = model.source(s) {
                        diag = diag.with_secondary(src.span, "source defined here");
                    }
                    diags.push(place(diag, Some(d), request));
                }
            }
        }
        if !skipped.is_empty() {
            notes.push(format!(
                "{} metrics cannot be broken down by {} and were skipped: {}",
                skipped.len(),
                group_by
                    .iter()
                    .map(|d| d.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                skipped.join(", ")
            ));
        }
        *metrics = kept;
        let mut seen: Vec<&str> = Vec::new();
        for d in &group_by {
            if seen.contains(&d.value.as_str()) {
                diags.push(place(
                    Diagnostic::new(
                        Code::InvalidRange,
                        format!("`{}` is given twice in --group-by", d.value),
                    )
                    .with_help("name each dimension once"),
                    Some(d),
                    request,
                ));
            }
            seen.push(&d.value);
        }
        for n in metrics.iter() {
            let Some(m) = model.metric(n) else { continue };
            let Some(table) = &m.shape.table else {
                continue;
            };
            if let Some(d) = group_by.iter().find(|d| table.columns.contains(&d.value)) {
                diags.push(place(
                    Diagnostic::new(
                        Code::BreakdownNotPossible,
                        format!("`{n}` cannot be broken down by `{}`", d.value),
                    )
                    .at(
                        m.span,
                        format!("its table already has a column `{}`", d.value),
                    )
                    .with_help(format!(
                        "break `{n}` down by another dimension; its table's columns are {}",
                        table
                            .columns
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Some(d),
                    request,
                ));
            }
        }
    }
    group_by
}

/// The first `period_over_period` metric at or under `name` whose offset is
/// not a whole number of `grain` buckets, or whose period starts are not
/// bucket starts (`None`: the range as one bucket).
fn misfit<'m>(
    model: &'m Model,
    name: &str,
    grain: Option<Grain>,
    seen: &mut Vec<String>,
) -> Option<(&'m Metric, &'m PeriodOverPeriod)> {
    if seen.iter().any(|s| s == name) {
        return None;
    }
    seen.push(name.to_string());
    let m = model.metric(name)?;
    if let Kind::PeriodOverPeriod(k) = &m.kind
        && !k.offset.fits(grain)
    {
        return Some((m, k));
    }
    m.depends_on
        .iter()
        .find_map(|d| misfit(model, &d.value, grain, seen))
}

/// Whether metric `name` can be computed by `grain` buckets (`None`: the
/// range as one): every `period_over_period` metric at or under it
/// compares with whole buckets.
pub fn fits(model: &Model, name: &str, grain: Option<Grain>) -> bool {
    misfit(model, name, grain, &mut Vec::new()).is_none()
}

/// Drops the metrics that compare with an offset that is not a whole number
/// of `grain` buckets, or with period starts that are not bucket starts,
/// with a note (or an error when they were named).
fn offsets(
    request: &Request,
    model: &Model,
    grain: Option<Grain>,
    explicit: bool,
    metrics: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
    notes: &mut Vec<String>,
) {
    let by = |g: Option<Grain>| match g {
        Some(g) => format!("`--by {}`", g.as_str()),
        None => "no `--by`".to_string(),
    };
    let mut skipped = Vec::new();
    metrics.retain(|n| {
        let Some((m, k)) = misfit(model, n, grain, &mut Vec::new()) else {
            return true;
        };
        if !explicit {
            skipped.push(n.clone());
            return false;
        }
        let via = if &m.name == n {
            String::new()
        } else {
            format!(" (through `{}`)", m.name)
        };
        let grains = [
            Grain::Hour,
            Grain::Day,
            Grain::Week,
            Grain::Month,
            Grain::Quarter,
            Grain::Year,
        ];
        let fitting: Vec<String> = grains
            .iter()
            .filter(|g| k.offset.fits(Some(**g)))
            .map(|g| format!("`--by {}`", g.as_str()))
            .collect();
        let (message, label) = match (k.offset, grain) {
            (Lookback::Offset(o), Some(g)) => (
                format!(
                    "`{n}`{via} compares with {} earlier, which is not a whole number of {} buckets",
                    o.text(),
                    g.as_str()
                ),
                format!("{} is not a whole number of {}s", o.text(), g.as_str()),
            ),
            (Lookback::ToGrain(to), Some(g)) => (
                format!(
                    "`{n}`{via} compares with the bucket that starts each {}, and {} buckets do not start every {}",
                    to.as_str(),
                    g.as_str(),
                    to.as_str()
                ),
                format!("a {} does not always start a {}", to.as_str(), g.as_str()),
            ),
            (_, None) => (
                format!("`{n}`{via} compares buckets, and the run has none"),
                "needs `--by`".to_string(),
            ),
        };
        let word = request.metrics.iter().find(|w| &w.value == n);
        diags.push(place(
            Diagnostic::new(Code::OffsetNotWholeBuckets, message)
                .at(k.offset_span, label)
                .with_help(format!("run it with {}", fitting.join(" or "))),
            word,
            request,
        ));
        false
    });
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped {} metric{}: with {}, the earlier value {} compare{} with is not a bucket of the run: {}",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            by(grain),
            if skipped.len() == 1 { "it" } else { "they" },
            if skipped.len() == 1 { "s" } else { "" },
            skipped.join(", ")
        ));
    }
}

/// The range: the request's, else the project's default.
fn range(request: &Request, model: &Model, diags: &mut Vec<Diagnostic>) -> Option<Range> {
    let parse = |flag: &str, w: &Word, diags: &mut Vec<Diagnostic>| -> Option<NaiveDateTime> {
        let t = parse_local(&w.value);
        if t.is_none() {
            diags.push(place(
                Diagnostic::new(
                    Code::InvalidRange,
                    format!("`--{flag} {}` is not a date or local time", w.value),
                )
                .with_help("write `2026-01-05` or `2026-01-05T08:00`"),
                Some(w),
                request,
            ));
        }
        t
    };
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    let from = match &request.from {
        Some(w) => parse("from", w, diags),
        None => model.project.default_from.map(midnight),
    };
    let to = match &request.to {
        Some(w) => parse("to", w, diags),
        None => model.project.default_to.map(midnight),
    };
    let bounds = request.from.as_ref().or(request.to.as_ref());
    match (from, to) {
        (Some(from), Some(to)) if from < to => Some(Range { from, to }),
        (Some(from), Some(to)) => {
            diags.push(place(
                Diagnostic::new(
                    Code::InvalidRange,
                    format!("the range {from} .. {to} is empty"),
                )
                .with_help(
                    "`--from` is inclusive and `--to` exclusive: `--to` must come after `--from`",
                ),
                bounds,
                request,
            ));
            None
        }
        _ if diags.iter().any(|d| d.code == Code::InvalidRange) => None,
        _ => {
            diags.push(place(
                Diagnostic::new(Code::InvalidRange, "no time range")
                    .with_help("pass `--from` and `--to`, or set `default_range: { from: ..., to: ... }` in metricc.yaml"),
                bounds,
                request,
            ));
            None
        }
    }
}

/// `2026-01-05`, `2026-01-05T08:00`, `2026-01-05 08:00:30`.
pub fn parse_local(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN));
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
}
