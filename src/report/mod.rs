//! output: computed tables -> one self-contained HTML page of charts and
//! the numbers under them (`metricc report`). Every chart is SVG drawn in
//! Rust ([`chart`]); the page has no script and loads nothing, so it opens
//! offline and prints as it shows.
//!
//! A metric of the metrics table is a line per breakdown value over the
//! buckets (bars by breakdown value without buckets, a number without
//! either); a funnel's steps are bars with the conversion from the first
//! step; a time-to-convert table bars per bin; a retention matrix a heatmap
//! triangle; a cohort table a curve per cohort.

pub mod chart;
pub mod frame;
mod html;
pub mod units;

use crate::semantic::kinds::{Kind, Unit};
use crate::semantic::model::{Metric, Model};
use crate::semantic::query::Query;
use crate::syntax::ast::FunnelValue;
use frame::{Cell, Frame};
use units::Display;

/// Most lines or bar series in one chart; the table under it has all.
pub const MAX_SERIES: usize = 8;
/// Most rows of a retention heatmap.
pub const MAX_COHORTS: usize = 60;
/// Most charts of one table split by breakdown (heatmaps, cohort curves).
pub const MAX_PANELS: usize = 6;

/// What a report shows.
pub struct Input<'a> {
    pub model: &'a Model,
    /// The query of the metrics table (its buckets and breakdown).
    pub query: &'a Query,
    /// Every metric drawn, in the order asked.
    pub order: Vec<String>,
    /// The metrics table, when a metric gives a column.
    pub metrics: Option<Frame>,
    /// Tables of their own by metric, computed over the whole range.
    pub tables: Vec<(String, Frame)>,
    /// Metrics left out of the run, and why.
    pub notes: Vec<String>,
    /// When the report was made, as written in it.
    pub made: String,
}

/// One metric's part of the page.
pub struct Section {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// The kind and unit, in words.
    pub about: String,
    pub figures: Vec<Figure>,
}

/// A chart with its legend and the numbers it draws.
pub struct Figure {
    pub caption: Option<String>,
    /// The chart; `Ok(None)` when there is no value to draw.
    pub svg: Result<Option<String>, String>,
    /// Series names, in colour order; empty for one series.
    pub legend: Vec<String>,
    /// Series left out of the chart, which the table shows.
    pub more: usize,
    pub table: html::Table,
}

/// The report page.
pub fn render(input: &Input) -> String {
    let mut sections = Vec::new();
    for name in &input.order {
        let Some(m) = input.model.metric(name) else {
            continue;
        };
        let mut figures = Vec::new();
        if m.shape.column
            && let Some(f) = &input.metrics
        {
            figures.extend(column_figures(input, m, f));
        }
        if let Some((_, f)) = input.tables.iter().find(|(n, _)| n == name) {
            figures.extend(table_figures(input, m, f));
        }
        if figures.is_empty() {
            continue;
        }
        let display = Display::of(input.model, m);
        let unit = match display.unit {
            Unit::Share => "a share, in %".to_string(),
            _ if display.words.is_empty() => String::new(),
            _ => display.words.clone(),
        };
        sections.push(Section {
            name: m.name.clone(),
            title: m.label.clone().unwrap_or_else(|| m.name.clone()),
            description: m.description.clone(),
            about: [m.kind.key().to_string(), unit]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · "),
            figures,
        });
    }
    html::page(input, &sections)
}

/// The breakdown key of row `r`: its group-by values joined.
fn key(f: &Frame, by: &[String], r: usize) -> String {
    by.iter()
        .filter_map(|c| f.column(c))
        .map(|col| col[r].key())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The breakdown key of every row, in row order.
fn row_keys(f: &Frame, by: &[String]) -> Vec<String> {
    (0..f.rows()).map(|r| key(f, by, r)).collect()
}

/// Distinct values in first-seen order.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(v.clone())).collect()
}

/// Series of `value` by `x` (each of `xs`), one per breakdown key in
/// first-seen order; beyond `limit` of them, the `limit` largest, and how
/// many more there were. One pass over the rows: a breakdown can have
/// thousands of values.
fn series(
    f: &Frame,
    x: &str,
    xs: &[String],
    by: &[String],
    value: &str,
    limit: usize,
) -> (Vec<chart::Series>, usize) {
    let (Some(xcol), Some(vcol)) = (f.column(x), f.column(value)) else {
        return (Vec::new(), 0);
    };
    let keys = row_keys(f, by);
    let names = distinct(keys.iter().cloned());
    let index = |list: &[String]| {
        let mut at = std::collections::HashMap::new();
        for (i, v) in list.iter().enumerate() {
            at.entry(v.clone()).or_insert(i);
        }
        at
    };
    let (series_at, x_at) = (index(&names), index(xs));
    let mut all: Vec<chart::Series> = names
        .iter()
        .map(|k| chart::Series {
            name: if k.is_empty() {
                value.to_string()
            } else {
                k.clone()
            },
            values: vec![None; xs.len()],
        })
        .collect();
    for (r, k) in keys.iter().enumerate() {
        if let Some(&i) = x_at.get(&xcol[r].key()) {
            all[series_at[k]].values[i] = vcol[r].num();
        }
    }
    let total = |s: &chart::Series| s.values.iter().flatten().map(|v| v.abs()).sum::<f64>();
    if all.len() > limit {
        all.sort_by(|a, b| total(b).total_cmp(&total(a)));
    }
    let more = all.len().saturating_sub(limit);
    all.truncate(limit);
    (all, more)
}

/// A metric of the metrics table.
fn column_figures(input: &Input, m: &Metric, f: &Frame) -> Vec<Figure> {
    let display = Display::of(input.model, m);
    let by = &input.query.group_by;
    let fmt = |v: f64| display.format(v);
    match input.query.grain {
        Some(grain) => {
            let bucket = grain.as_str();
            let xs = distinct(f.column(bucket).unwrap_or_default().iter().map(Cell::key));
            let (s, more) = series(f, bucket, &xs, by, &m.name, MAX_SERIES);
            let svg = chart::line(&xs, &s, &fmt, &display.axis());
            vec![figure(None, svg, &s, more, bucket, &xs, &display)]
        }
        None if !by.is_empty() => {
            let xs = distinct((0..f.rows()).map(|r| key(f, by, r)));
            let values = (0..f.rows())
                .map(|r| f.column(&m.name).and_then(|c| c[r].num()))
                .collect();
            let s = vec![chart::Series {
                name: m.name.clone(),
                values,
            }];
            let svg = chart::bars(&xs, &s, &[], &fmt, &display.axis());
            vec![figure(None, svg, &s, 0, &by.join(" · "), &xs, &display)]
        }
        None => {
            let value = f
                .column(&m.name)
                .and_then(|c| c.first())
                .and_then(Cell::num);
            let s = vec![chart::Series {
                name: m.name.clone(),
                values: vec![value],
            }];
            let xs = vec!["the range".to_string()];
            let svg = chart::bars(&xs, &s, &[], &fmt, &display.axis());
            vec![figure(None, svg, &s, 0, "", &xs, &display)]
        }
    }
}

/// A figure whose table is its series by `x`.
fn figure(
    caption: Option<String>,
    svg: Result<String, String>,
    s: &[chart::Series],
    more: usize,
    x_name: &str,
    xs: &[String],
    display: &Display,
) -> Figure {
    let mut head = vec![x_name.to_string()];
    head.extend(s.iter().map(|s| s.name.clone()));
    let rows = xs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mut row = vec![x.clone()];
            row.extend(
                s.iter()
                    .map(|s| s.values[i].map_or_else(|| "–".into(), |v| display.format(v))),
            );
            row
        })
        .collect();
    let empty = s.iter().all(|s| s.values.iter().all(Option::is_none));
    Figure {
        caption,
        svg: if empty { Ok(None) } else { svg.map(Some) },
        legend: if s.len() > 1 && !empty {
            s.iter().map(|s| s.name.clone()).collect()
        } else {
            Vec::new()
        },
        more,
        table: html::Table {
            numeric: (0..head.len()).map(|i| i > 0).collect(),
            head,
            rows,
        },
    }
}

/// What a table of its own is drawn as, by kind.
enum TableChart {
    Steps,
    Bins,
    Matrix,
    Curves,
}

fn table_chart(kind: &Kind) -> Option<TableChart> {
    match kind {
        Kind::Funnel(f) => match f.value {
            FunnelValue::Steps => Some(TableChart::Steps),
            FunnelValue::TimeToConvert => Some(TableChart::Bins),
            FunnelValue::Converted | FunnelValue::ConversionRate | FunnelValue::Entered => None,
        },
        Kind::Retention(_) => Some(TableChart::Matrix),
        Kind::Cohort(_) => Some(TableChart::Curves),
        Kind::Measure(_)
        | Kind::Ratio(_)
        | Kind::Formula(_)
        | Kind::Cumulative(_)
        | Kind::TimeBetween(_)
        | Kind::Active(_)
        | Kind::Churn(_)
        | Kind::PeriodOverPeriod(_)
        | Kind::Conversion(_)
        | Kind::Sequence(_) => None,
    }
}

/// A metric's table of its own, over the whole range.
fn table_figures(input: &Input, m: &Metric, f: &Frame) -> Vec<Figure> {
    let Some(shape) = &m.shape.table else {
        return Vec::new();
    };
    // The breakdown: the columns the table has besides its own.
    let by: Vec<String> = f
        .names
        .iter()
        .filter(|n| !shape.columns.contains(n))
        .cloned()
        .collect();
    let share = Display::with(input.model, m, Unit::Share);
    let entities = Display::with(input.model, m, Unit::Entities);
    match table_chart(&m.kind) {
        None => Vec::new(),
        Some(TableChart::Steps) | Some(TableChart::Bins) => {
            let (x, note) = match table_chart(&m.kind) {
                Some(TableChart::Steps) => ("step_name", "conversion_from_first"),
                _ => ("bin", "share"),
            };
            let xs = distinct(f.column(x).unwrap_or_default().iter().map(Cell::key));
            let (s, more) = series(f, x, &xs, &by, "entities", MAX_SERIES);
            let (notes, _) = series(f, x, &xs, &by, note, MAX_SERIES);
            let notes: Vec<Vec<Option<String>>> = notes
                .iter()
                .map(|n| {
                    n.values
                        .iter()
                        .map(|v| v.map(|v| share.format(v)))
                        .collect()
                })
                .collect();
            let fmt = |v: f64| entities.format(v);
            let svg = chart::bars(&xs, &s, &notes, &fmt, "entities");
            let mut fig = figure(None, svg, &s, more, x, &xs, &entities);
            fig.table = html::Table::of(f);
            vec![fig]
        }
        Some(TableChart::Matrix) | Some(TableChart::Curves) => {
            let matrix = matches!(table_chart(&m.kind), Some(TableChart::Matrix));
            let value = if matrix {
                "retention_rate"
            } else {
                m.name.as_str()
            };
            let display = if matrix {
                share.clone()
            } else {
                Display::of(input.model, m)
            };
            let keys_of_rows = row_keys(f, &by);
            let keys = distinct(keys_of_rows.iter().cloned());
            let mut out = Vec::new();
            for k in keys.iter().take(MAX_PANELS) {
                let rows: Vec<usize> = (0..f.rows()).filter(|r| keys_of_rows[*r] == *k).collect();
                let sub = Frame {
                    names: f.names.clone(),
                    columns: f
                        .columns
                        .iter()
                        .map(|c| rows.iter().map(|r| c[*r].clone()).collect())
                        .collect(),
                };
                let periods = distinct(
                    sub.column("period")
                        .unwrap_or_default()
                        .iter()
                        .map(Cell::key),
                );
                let limit = if matrix { MAX_COHORTS } else { MAX_SERIES };
                let (s, more) = series(
                    &sub,
                    "period",
                    &periods,
                    &["cohort".to_string()],
                    value,
                    limit,
                );
                let cohorts: Vec<String> = s.iter().map(|s| s.name.clone()).collect();
                let fmt = |v: f64| display.format(v);
                let caption = (!k.is_empty()).then(|| k.clone());
                let svg = if matrix {
                    let values: Vec<Vec<Option<f64>>> =
                        s.iter().map(|s| s.values.clone()).collect();
                    chart::heatmap(
                        &cohorts,
                        &periods,
                        &values,
                        &fmt,
                        "periods since the cohort's start",
                        "cohort",
                    )
                } else {
                    chart::line(&periods, &s, &fmt, &display.axis())
                };
                let mut fig = figure(caption, svg, &s, more, "period", &periods, &display);
                if matrix {
                    fig.legend.clear();
                }
                fig.table = html::Table::of(&sub);
                out.push(fig);
            }
            if keys.len() > MAX_PANELS
                && let Some(last) = out.last_mut()
            {
                let more = keys.len() - MAX_PANELS;
                last.caption = Some(format!(
                    "{} ({more} more breakdown values not drawn; `metricc run {} --table {}` gives them)",
                    last.caption.clone().unwrap_or_default(),
                    m.name,
                    m.name
                ));
            }
            out
        }
    }
}
