//! report: numbers -> SVG charts, drawn with plotters' SVG backend.
//!
//! plotters, not charming: charming's pages load ECharts' JavaScript from a
//! CDN (or carry 1 MB of it), and its server-side SVG runs ECharts in V8,
//! whose build downloads a prebuilt library; plotters draws SVG in Rust,
//! with five small crates and no font files (the SVG names `sans-serif`
//! and the browser lays the text out). Its text widths are estimates, so
//! charts keep margins generous and labels few.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A line or a set of bars: one breakdown value, one cohort.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Okabe and Ito's colours, told apart by readers with any common colour
/// blindness.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (0, 0, 0),
    (240, 228, 66),
];

pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// How a chart writes its numbers.
pub type Format<'a> = &'a dyn Fn(f64) -> String;

const WIDTH: u32 = 860;
const GRID: RGBColor = RGBColor(232, 232, 232);
const AXIS: RGBColor = RGBColor(90, 90, 90);

type Fail = String;

fn failed<E: std::fmt::Debug>(e: E) -> Fail {
    format!("{e:?}")
}

/// Draws on a fresh SVG of `height` and returns its text.
fn svg(
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), Fail>,
) -> Result<String, Fail> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root)?;
        root.present().map_err(failed)?;
    }
    Ok(out)
}

/// A value range with room above the largest (and below a negative least).
fn y_range(series: &[Series]) -> std::ops::Range<f64> {
    let values = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let lo = if lo < 0.0 { lo - span * 0.08 } else { 0.0 };
    lo..hi + span * 0.08
}

/// Whether every value is a whole number (a count): its axis then shows
/// whole numbers only.
fn whole(series: &[Series]) -> bool {
    series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .all(|v| v.fract() == 0.0)
}

/// A value axis's tick label: blank between whole numbers on a count's axis.
fn tick<'a>(format: Format<'a>, whole: bool) -> impl Fn(&f64) -> String + 'a {
    move |v: &f64| {
        if whole && v.fract().abs() > 1e-9 {
            String::new()
        } else {
            format(*v)
        }
    }
}

/// Labels for integer positions `0..n`; others are blank, so a tick between
/// buckets says nothing.
fn at<'a>(labels: &'a [String]) -> impl Fn(&f64) -> String + 'a {
    move |v: &f64| {
        let i = v.round();
        if (v - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        labels.get(i as usize).cloned().unwrap_or_default()
    }
}

type Axes<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A value axis over categories (buckets, steps) at `0..n`, labelled with
/// `x_labels` (at most `most` of them) and the values' `format`.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    x_labels: &[String],
    most: usize,
    series: &[Series],
    format: Format,
    y_desc: &str,
) -> Result<Axes<'a, 'b>, Fail> {
    let n = x_labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .margin_right(40)
        .x_label_area_size(36)
        .y_label_area_size(78)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), y_range(series))
        .map_err(failed)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(n.min(most))
        .x_label_formatter(&at(x_labels))
        .y_labels(6)
        .y_label_formatter(&tick(format, whole(series)))
        .y_desc(y_desc)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(failed)?;
    Ok(chart)
}

/// Lines over the buckets, one per series; a gap where a value is null.
pub fn line(
    x_labels: &[String],
    series: &[Series],
    format: Format,
    y_desc: &str,
) -> Result<String, Fail> {
    svg(340, |root| {
        let mut chart = axes(root, x_labels, 9, series, format, y_desc)?;
        for (k, s) in series.iter().enumerate() {
            let c = color(k);
            let mut run: Vec<(f64, f64)> = Vec::new();
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => run.push((i as f64, *v)),
                    None if run.is_empty() => {}
                    None => {
                        chart
                            .draw_series(LineSeries::new(
                                std::mem::take(&mut run),
                                c.stroke_width(2),
                            ))
                            .map_err(failed)?;
                    }
                }
            }
            if !run.is_empty() {
                chart
                    .draw_series(LineSeries::new(run, c.stroke_width(2)))
                    .map_err(failed)?;
            }
            // A point per value: a lone value between nulls still shows.
            chart
                .draw_series(
                    s.values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Circle::new((i as f64, v), 3, c.filled()))),
                )
                .map_err(failed)?;
        }
        Ok(())
    })
}

/// Bars per category (a funnel's steps), one per series side by side,
/// each with `notes[series][category]` written above it while there are at
/// most three series (more would overlap; the table under the chart has
/// them).
pub fn bars(
    x_labels: &[String],
    series: &[Series],
    notes: &[Vec<Option<String>>],
    format: Format,
    y_desc: &str,
) -> Result<String, Fail> {
    let k = series.len().max(1);
    svg(340, |root| {
        let mut chart = axes(root, x_labels, x_labels.len(), series, format, y_desc)?;
        let width = 0.8 / k as f64;
        for (j, s) in series.iter().enumerate() {
            let c = color(j);
            for (i, v) in s.values.iter().enumerate() {
                let Some(v) = v else { continue };
                let left = i as f64 - 0.4 + width * j as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(left + width * 0.06, 0.0), (left + width * 0.94, *v)],
                        c.filled(),
                    )))
                    .map_err(failed)?;
                if k <= 3
                    && let Some(Some(note)) = notes.get(j).and_then(|n| n.get(i))
                {
                    let style = ("sans-serif", 12)
                        .into_font()
                        .color(&AXIS)
                        .pos(Pos::new(HPos::Center, VPos::Bottom));
                    chart
                        .draw_series(std::iter::once(Text::new(
                            note.clone(),
                            (left + width / 2.0, *v),
                            style,
                        )))
                        .map_err(failed)?;
                }
            }
        }
        Ok(())
    })
}

/// A matrix of shaded cells with their values: rows (cohorts) top to
/// bottom, columns (periods) left to right; a null cell is left blank, so
/// a retention matrix draws as its triangle. Shades run from white at 0 to
/// the first colour at the largest value.
pub fn heatmap(
    rows: &[String],
    columns: &[String],
    values: &[Vec<Option<f64>>],
    format: Format,
    x_desc: &str,
    y_desc: &str,
) -> Result<String, Fail> {
    let (nr, nc) = (rows.len().max(1), columns.len().max(1));
    let height = (64 + 26 * nr as u32).clamp(160, 900);
    let top = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, v| m.max(*v));
    // Rows from the top: row r is drawn at y = nr - 1 - r.
    let flipped: Vec<String> = rows.iter().rev().cloned().collect();
    svg(height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(96)
            .build_cartesian_2d(-0.5..(nc as f64 - 0.5), -0.5..(nr as f64 - 0.5))
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .axis_style(AXIS)
            .x_labels(nc.min(16))
            .x_label_formatter(&at(columns))
            .y_labels(nr.min(40))
            .y_label_formatter(&at(&flipped))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(failed)?;
        let (r0, g0, b0) = PALETTE[0];
        for (r, row) in values.iter().enumerate() {
            let y = (nr - 1 - r) as f64;
            for (c, v) in row.iter().enumerate() {
                let Some(v) = v else { continue };
                let t = if top > 0.0 {
                    (v / top).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let mix = |full: u8| (255.0 - (255.0 - f64::from(full)) * t) as u8;
                let fill = RGBColor(mix(r0), mix(g0), mix(b0));
                let x = c as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.48, y - 0.46), (x + 0.48, y + 0.46)],
                        fill.filled(),
                    )))
                    .map_err(failed)?;
                let ink = if t > 0.55 { WHITE } else { BLACK };
                let style = ("sans-serif", 11)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(format(*v), (x, y), style)))
                    .map_err(failed)?;
            }
        }
        Ok(())
    })
}
