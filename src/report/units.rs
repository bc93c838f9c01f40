//! report: how a metric's numbers are written and its axis is named, from
//! its kind's [`Unit`] and its `unit:`.

use crate::semantic::kinds::{Kind, Unit};
use crate::semantic::model::{Metric, Model};
use crate::syntax::ast::{Comparison, TimeUnit};

/// A metric's unit, resolved for display.
#[derive(Debug, Clone)]
pub struct Display {
    pub unit: Unit,
    /// The unit's words: `USD`, `developers`, `hours`; empty for none.
    pub words: String,
}

impl Display {
    pub fn of(model: &Model, m: &Metric) -> Display {
        Display::with(model, m, m.kind.unit().unwrap_or(Unit::Number))
    }

    pub fn with(model: &Model, m: &Metric, unit: Unit) -> Display {
        let words = match unit {
            Unit::Share => "%".to_string(),
            Unit::Entities => "entities".to_string(),
            Unit::Rows => "rows".to_string(),
            Unit::Time(t) => time_word(t).to_string(),
            Unit::Number => declared(model, m, 0).unwrap_or_default(),
        };
        Display { unit, words }
    }

    /// A number as a cell or label: `55.0%`, `1,234`, `12.5 h`, `3.2k USD`.
    pub fn format(&self, v: f64) -> String {
        match self.unit {
            Unit::Share => format!("{:.1}%", v * 100.0),
            Unit::Time(t) => format!("{} {}", number(v), time_short(t)),
            Unit::Entities | Unit::Rows => number(v),
            Unit::Number if self.words.is_empty() => number(v),
            Unit::Number => format!("{} {}", number(v), self.words),
        }
    }

    /// The axis title.
    pub fn axis(&self) -> String {
        match self.unit {
            Unit::Share => "share (%)".into(),
            _ => self.words.clone(),
        }
    }
}

/// The unit a metric's definition names, or, for a metric that restates
/// another's numbers (a running total, a cohort table, an earlier value
/// or a difference), that metric's.
fn declared(model: &Model, m: &Metric, depth: usize) -> Option<String> {
    if let Some(u) = &m.unit {
        return Some(u.clone());
    }
    let restates = match &m.kind {
        Kind::Cumulative(_) | Kind::Cohort(_) => true,
        Kind::PeriodOverPeriod(p) => {
            matches!(p.value, Comparison::Previous | Comparison::Difference)
        }
        Kind::Measure(_)
        | Kind::Ratio(_)
        | Kind::Formula(_)
        | Kind::Funnel(_)
        | Kind::TimeBetween(_)
        | Kind::Active(_)
        | Kind::Retention(_)
        | Kind::Churn(_)
        | Kind::Conversion(_)
        | Kind::Sequence(_) => false,
    };
    if !restates || depth > 64 {
        return None;
    }
    let [base] = m.depends_on.as_slice() else {
        return None;
    };
    declared(model, model.metric(&base.value)?, depth + 1)
}

fn time_word(t: TimeUnit) -> &'static str {
    match t {
        TimeUnit::Seconds => "seconds",
        TimeUnit::Minutes => "minutes",
        TimeUnit::Hours => "hours",
        TimeUnit::Days => "days",
    }
}

fn time_short(t: TimeUnit) -> &'static str {
    match t {
        TimeUnit::Seconds => "s",
        TimeUnit::Minutes => "min",
        TimeUnit::Hours => "h",
        TimeUnit::Days => "d",
    }
}

/// A number with thousands separators, and at most two decimals (three
/// significant digits below 1).
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a != 0.0 && a < 1.0 {
        let digits = (2 - a.log10().floor() as i32).clamp(2, 8) as usize;
        return format!("{v:.digits$}");
    }
    let decimals = if v.fract() == 0.0 || a >= 1000.0 {
        0
    } else {
        2
    };
    let text = format!("{a:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    match frac {
        "" => format!("{sign}{grouped}"),
        f => format!("{sign}{grouped}.{f}"),
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(-1234.6), "-1,235");
        assert_eq!(number(12.3456), "12.35");
        assert_eq!(number(0.012345), "0.0123");
        assert_eq!(number(0.5), "0.500");
        assert_eq!(number(999.0), "999");
    }
}
