//! The abstract syntax tree: what the user wrote, every node with its span,
//! nothing resolved yet (names are text, types unknown).

use crate::span::{FileId, Span, Spanned};

/// A name as written, with its span.
pub type Name = Spanned<String>;

/// A parsed project: the project file plus every definition file.
#[derive(Debug, Clone, Default)]
pub struct Ast {
    pub project: ProjectDef,
    pub sources: Vec<SourceDef>,
    pub entities: Vec<EntityDef>,
    pub metrics: Vec<MetricDef>,
}

/// Settings from `metricc.yaml`.
#[derive(Debug, Clone, Default)]
pub struct ProjectDef {
    pub file: FileId,
    pub name: Option<Name>,
    pub description: Option<Name>,
    /// Globs of definition files, relative to the project directory.
    pub files: Vec<Name>,
    pub time_zone: Option<Name>,
    pub week_start: Option<Spanned<Weekday>>,
    pub default_from: Option<Spanned<chrono::NaiveDate>>,
    pub default_to: Option<Spanned<chrono::NaiveDate>>,
    /// `diff: { max_change: 5% }`: the largest relative change of any
    /// metric's value that `metricc diff` lets pass (exit 1 beyond it).
    pub max_change: Option<Spanned<f64>>,
    /// `diff: { metrics: { name: 2% } }`: per-metric limits.
    pub max_change_by_metric: Vec<(Name, Spanned<f64>)>,
}

/// A Parquet data source.
#[derive(Debug, Clone)]
pub struct SourceDef {
    pub name: Name,
    pub description: Option<Name>,
    /// A file, directory or glob, relative to the project directory.
    pub path: Name,
    pub time: Name,
    pub entity: Option<Name>,
    pub dimensions: Vec<Name>,
}

/// An entity with a table of attributes: `entities: { developer: {...} }`.
/// Sources whose `entity` column is its `key` can use its attributes as
/// `developer.plan` in filters, breakdowns and every kind's options.
#[derive(Debug, Clone)]
pub struct EntityDef {
    pub name: Name,
    pub description: Option<Name>,
    /// The column naming the entity, in the table and in the sources.
    pub key: Name,
    /// The attribute table: a file, directory or glob of Parquet files.
    pub path: Name,
    /// The columns given as attributes; empty: every column but the key
    /// and `valid_from`.
    pub attributes: Vec<Name>,
    /// The column from which each row holds; rows are then versions of
    /// the entity's attributes, and an event sees the version of its time.
    pub valid_from: Option<Name>,
}

/// A metric definition.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub name: Name,
    pub label: Option<Name>,
    /// The unit of its numbers, for labels (`USD`, `ms`).
    pub unit: Option<Name>,
    pub description: Option<Name>,
    pub owner: Option<Name>,
    pub tags: Vec<Name>,
    pub source: Option<Name>,
    pub filter: Option<Expr>,
    /// Count only each entity's first (or last) matching event, over all time.
    pub occurrence: Option<Spanned<Occurrence>>,
    /// Dimensions the metric is broken down by unless the command line says otherwise.
    pub breakdown: Vec<Name>,
    /// The key naming the kind (`measure:`, `funnel:`, ...), for diagnostics.
    pub kind_span: Span,
    pub kind: MetricKind,
}

/// What a metric computes.
#[derive(Debug, Clone)]
pub enum MetricKind {
    /// `measure: count_distinct(developer_id)`: aggregates over source rows.
    Aggregate {
        measure: Expr,
    },
    /// `ratio: {numerator: a, denominator: b}`: a / b per bucket, null when b is 0.
    Ratio {
        numerator: Name,
        denominator: Name,
    },
    /// `formula: dau / mau`: arithmetic over other metrics.
    Formula {
        expr: Expr,
    },
    /// Running total of another metric: all time, a trailing window, or to date.
    Cumulative {
        metric: Name,
        window: Option<Spanned<Duration>>,
        to_date: Option<Spanned<Grain>>,
    },
    Funnel(Funnel),
    /// Per entity, time from its first `from` event to its first `to` event after it.
    TimeBetween {
        from: Expr,
        to: Expr,
        statistic: Spanned<Statistic>,
        unit: Spanned<TimeUnit>,
        within: Option<Spanned<Duration>>,
    },
    /// Distinct entities with an event in a trailing window (or calendar period).
    Active {
        window: ActiveWindow,
    },
    Retention(Retention),
    /// Entities active in the previous window and not in the current one.
    Churn {
        window: Spanned<Duration>,
        value: Spanned<ChurnValue>,
    },
    Cohort(CohortDef),
    /// MetricFlow's conversion metric: base events, and conversion events
    /// each credited to the entity's most recent base event at or before it.
    Conversion(ConversionDef),
    /// ClickHouse's `sequenceMatch` / `sequenceCount`: a pattern over each
    /// entity's events of a bucket.
    Sequence(SequenceDef),
    /// A metric against its own value an offset earlier: the earlier
    /// value, the difference, the ratio or the growth.
    PeriodOverPeriod {
        metric: Name,
        offset: Spanned<Lookback>,
        value: Spanned<Comparison>,
    },
}

/// `conversion:`: the base events of the metric's source and the
/// conversion events of it or of another source.
#[derive(Debug, Clone)]
pub struct ConversionDef {
    pub base: Expr,
    pub conversion: ConversionEvent,
    /// How long after its base a conversion counts (far edge exclusive);
    /// unbounded when absent.
    pub within: Option<Spanned<Duration>>,
    /// Values a conversion must share with its base (the same session).
    pub constant_properties: Vec<ConstantProperty>,
    pub count: Spanned<ConversionCount>,
    pub value: Spanned<ConversionValue>,
}

/// `conversion:`'s conversion event: a predicate, or
/// `{ source, where, entity }` for events of another source.
#[derive(Debug, Clone)]
pub struct ConversionEvent {
    /// The source of the conversion events; the metric's own when absent.
    pub source: Option<Name>,
    pub predicate: Expr,
    /// The column (or entity attribute) of the conversion's rows that holds
    /// the base source's entity ids; the source's `entity` when absent.
    pub entity: Option<Name>,
}

/// One of `constant_properties`: `sdk` (a column of that name on both
/// sides) or `{ base: channel, conversion: developer.signup_channel }`.
#[derive(Debug, Clone)]
pub struct ConstantProperty {
    pub base: Name,
    pub conversion: Name,
}

/// `sequence:`: named conditions on one source's rows and a pattern over
/// them (`(?1).*(?t<=1m)(?2)`).
#[derive(Debug, Clone)]
pub struct SequenceDef {
    /// The conditions in order: `(?1)` is the first, `(?name)` names one.
    pub conditions: Vec<(Name, Expr)>,
    /// The pattern's elements; its span is the pattern's text.
    pub pattern: Spanned<Vec<PatternItem>>,
    pub value: Spanned<SequenceValue>,
}

/// One element of a sequence pattern, with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternItem {
    pub kind: PatternKind,
    pub span: Span,
}

/// What a pattern element is.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternKind {
    /// `.*`
    Star,
    /// `.`
    Any,
    /// `(?1)` or `(?name)`
    Condition(PatternRef),
    /// `(?t<=1m)`: the comparison and the duration (a bare number is
    /// seconds, as in ClickHouse).
    Time(PatternTimeOp, Duration),
    /// `(?gap>=7d)`: the same comparison for the very next event only, no
    /// event in between (metricc's; ClickHouse has none).
    Gap(PatternTimeOp, Duration),
}

/// A condition as a pattern names it.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternRef {
    Number(u64),
    Name(String),
}

/// The comparisons of `(?t op d)`; the engine reads them too (in a
/// function's spec, hence serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PatternTimeOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl PatternTimeOp {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "<" => PatternTimeOp::Lt,
            "<=" => PatternTimeOp::Le,
            ">" => PatternTimeOp::Gt,
            ">=" => PatternTimeOp::Ge,
            "==" => PatternTimeOp::Eq,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PatternTimeOp::Lt => "<",
            PatternTimeOp::Le => "<=",
            PatternTimeOp::Gt => ">",
            PatternTimeOp::Ge => ">=",
            PatternTimeOp::Eq => "==",
        }
    }
}

/// A calendar offset: a whole number of hours, days, weeks, months,
/// quarters or years (`1 week`, `12 months`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset {
    pub count: u32,
    pub unit: Grain,
}

impl Offset {
    /// `1 week`, `2 weeks`, `12 months`: a count and a unit, singular or
    /// plural, separated by spaces.
    pub fn parse(s: &str) -> Option<Offset> {
        let mut words = s.split_whitespace();
        let count: u32 = words.next()?.parse().ok()?;
        let unit = words.next()?;
        if words.next().is_some() {
            return None;
        }
        let unit = Grain::parse(unit.strip_suffix('s').unwrap_or(unit))?;
        Some(Offset { count, unit })
    }

    /// The offset as written in docs and `explain`: `1 week`, `2 weeks`.
    pub fn text(&self) -> String {
        let plural = if self.count == 1 { "" } else { "s" };
        format!("{} {}{plural}", self.count, self.unit.as_str())
    }

    /// The offset in the calendar's two families of units: hours (hour,
    /// day, week: wall-clock hours) or months (month, quarter, year).
    pub fn length(&self) -> (bool, u64) {
        let (hours, per) = match self.unit {
            Grain::Hour => (true, 1),
            Grain::Day => (true, 24),
            Grain::Week => (true, 168),
            Grain::Month => (false, 1),
            Grain::Quarter => (false, 3),
            Grain::Year => (false, 12),
        };
        (hours, u64::from(self.count) * per)
    }

    /// Whether the offset is a whole number of `grain` buckets, so that it
    /// moves every bucket onto another bucket's start.
    pub fn fits(&self, grain: Grain) -> bool {
        let (hours, n) = self.length();
        let (g_hours, g) = Offset {
            count: 1,
            unit: grain,
        }
        .length();
        hours == g_hours && n % g == 0
    }
}

/// Which earlier value `period_over_period` compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lookback {
    /// The same period moved back (`offset: 1 week`): MetricFlow's
    /// `offset_window`.
    Offset(Offset),
    /// The bucket that starts the calendar period holding each bucket
    /// (`offset_to_grain: month`): MetricFlow's `offset_to_grain`.
    ToGrain(Grain),
}

impl Lookback {
    /// The earlier value in words, after "its value": `1 week earlier`,
    /// `at the start of its month`.
    pub fn text(&self) -> String {
        match self {
            Lookback::Offset(o) => format!("{} earlier", o.text()),
            Lookback::ToGrain(g) => format!("at the start of its {}", g.as_str()),
        }
    }

    /// Whether buckets of `grain` (none: the range as one bucket) can be
    /// compared this way: an offset must be whole buckets, and every start
    /// of a grain period a bucket's start (`--by day` for a month; not
    /// `--by week`, whose weeks straddle months).
    pub fn fits(&self, grain: Option<Grain>) -> bool {
        match (self, grain) {
            (Lookback::Offset(_), None) => true,
            (Lookback::Offset(o), Some(g)) => o.fits(g),
            (Lookback::ToGrain(_), None) => false,
            (Lookback::ToGrain(to), Some(g)) => g.starts_every(*to),
        }
    }
}

impl Grain {
    /// Whether every start of a `period` is the start of a bucket of this
    /// grain: a day starts every week and month; a week starts no month.
    pub fn starts_every(self, period: Grain) -> bool {
        use Grain::*;
        match self {
            Hour => true,
            Day => period != Hour,
            Week => period == Week,
            Month => matches!(period, Month | Quarter | Year),
            Quarter => matches!(period, Quarter | Year),
            Year => period == Year,
        }
    }
}

impl MetricKind {
    /// The YAML key that introduces this kind.
    pub fn key(&self) -> &'static str {
        match self {
            MetricKind::Aggregate { .. } => "measure",
            MetricKind::Ratio { .. } => "ratio",
            MetricKind::Formula { .. } => "formula",
            MetricKind::Cumulative { .. } => "cumulative",
            MetricKind::Funnel(_) => "funnel",
            MetricKind::TimeBetween { .. } => "time_between",
            MetricKind::Active { .. } => "active",
            MetricKind::Retention(_) => "retention",
            MetricKind::Churn { .. } => "churn",
            MetricKind::Cohort(_) => "cohort",
            MetricKind::Conversion(_) => "conversion",
            MetricKind::Sequence(_) => "sequence",
            MetricKind::PeriodOverPeriod { .. } => "period_over_period",
        }
    }
}

/// The window of an `active` metric.
#[derive(Debug, Clone)]
pub enum ActiveWindow {
    /// Trailing window ending at each bucket's end: `window: 7d`.
    Rolling(Spanned<Duration>),
    /// The calendar period containing the bucket: `calendar: week`.
    Calendar(Spanned<Grain>),
}

/// A funnel: ordered steps per entity within a conversion window.
#[derive(Debug, Clone)]
pub struct Funnel {
    pub steps: Vec<Step>,
    pub within: Spanned<Duration>,
    pub order: Spanned<FunnelOrder>,
    /// Whether one event may satisfy two consecutive steps.
    pub reuse_events: Option<Spanned<bool>>,
    /// Consecutive steps need strictly increasing times (ClickHouse's
    /// `strict_increase`).
    pub strict_increase: Option<Spanned<bool>>,
    /// A step repeated after it was reached ends the scan (ClickHouse's
    /// `strict_deduplication`).
    pub strict_deduplication: Option<Spanned<bool>>,
    /// Whether a step exactly `within` after its window's start counts.
    pub window_edge: Option<Spanned<WindowEdge>>,
    /// `best_attempt: first_complete`: PostHog's choice of attempt.
    pub best_attempt: Option<Spanned<BestAttempt>>,
    /// `exclude_scope: entity`: PostHog's exclusions.
    pub exclude_scope: Option<Spanned<ExcludeScope>>,
    /// `time_to_convert: { from, to, bins }`: the bins of `value: time_to_convert`.
    pub time_to_convert: Option<TimeToConvert>,
    pub exclude: Vec<Exclusion>,
    pub hold_constant: Vec<Name>,
    pub attribution: Option<Spanned<Attribution>>,
    /// `attribution: { step: name }`: that step's event gives the breakdown value.
    pub attribution_step: Option<Name>,
    pub value: Spanned<FunnelValue>,
}

/// How `value: time_to_convert` bins the time between two steps.
#[derive(Debug, Clone)]
pub struct TimeToConvert {
    /// The step the time runs from (default: the first).
    pub from: Option<Name>,
    /// The step it runs to (default: the last).
    pub to: Option<Name>,
    /// Upper edges of the bins but the last, increasing.
    pub bins: Vec<Spanned<Duration>>,
    pub span: Span,
}

/// One funnel step: a name and a row predicate, optionally its own window.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: Name,
    pub predicate: Expr,
    pub within: Option<Spanned<Duration>>,
}

/// An event that disqualifies an attempt when it falls between two steps.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub predicate: Expr,
    pub after: Name,
    pub before: Name,
}

/// A retention matrix definition.
#[derive(Debug, Clone)]
pub struct Retention {
    pub cohort: Expr,
    pub returning: Expr,
    pub period: Spanned<Grain>,
    pub periods: Spanned<i64>,
    pub cohort_type: Spanned<CohortType>,
    pub matching: Spanned<RetentionMatch>,
    pub anchor: Spanned<PeriodAnchor>,
    /// A return counts in a period only with this many return events in
    /// it (PostHog's minimum occurrences); period 0 is not affected.
    pub min_occurrences: Option<Spanned<i64>>,
}

/// Any metric by cohort of first event and periods since.
#[derive(Debug, Clone)]
pub struct CohortDef {
    pub metric: Name,
    /// Source of the cohort event; defaults to the metric's `source`.
    pub cohort_source: Option<Name>,
    pub event: Expr,
    pub period: Spanned<Grain>,
    pub periods: Spanned<i64>,
    pub per_entity: bool,
    pub cumulative: bool,
}

/// A fixed length of time, as written (`7d`) and in milliseconds.
#[derive(Clone, PartialEq)]
pub struct Duration {
    pub millis: i64,
    pub text: String,
}

impl std::fmt::Debug for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Duration");
        d.field("millis", &self.millis);
        // `7d` and `168h` mean the same; only the text differs.
        if !crate::span::spans_hidden() {
            d.field("text", &self.text);
        }
        d.finish()
    }
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A name: a column in row expressions, a metric in formulas.
    Column(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    Call {
        name: Name,
        args: CallArgs,
        filter: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallArgs {
    /// `count(*)`.
    Star(Span),
    Exprs(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    String(String),
    Bool(bool),
    Null,
    Duration(Duration),
    Date(chrono::NaiveDate),
    Timestamp(chrono::NaiveDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }
}

/// Enums whose values are written as keywords in YAML.
macro_rules! keywords {
    ($( $(#[doc = $doc:literal])* $name:ident { $($variant:ident = $text:literal),* $(,)? } )*) => {$(
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }
        impl $name {
            /// Every accepted spelling.
            pub const ALL: &'static [&'static str] = &[$($text),*];
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
    )*};
}

keywords! {
    /// First day of a week.
    Weekday { Monday = "monday", Tuesday = "tuesday", Wednesday = "wednesday", Thursday = "thursday",
              Friday = "friday", Saturday = "saturday", Sunday = "sunday" }
    /// Calendar periods.
    Grain { Hour = "hour", Day = "day", Week = "week", Month = "month", Quarter = "quarter", Year = "year" }
    /// Which of an entity's matching events count.
    Occurrence { All = "all", First = "first", Last = "last" }
    /// How funnel steps must follow each other.
    FunnelOrder { Ordered = "ordered", Strict = "strict", StrictOrder = "strict_order", Any = "any" }
    /// Whom an exclusion disqualifies: the attempt that saw it, or the
    /// entity when that attempt is the one that counts.
    ExcludeScope { Attempt = "attempt", Entity = "entity" }
    /// Which attempt counts among those reaching the most steps.
    BestAttempt { LatestStart = "latest_start", FirstComplete = "first_complete" }
    /// Whether an event exactly at a window's far edge is inside it.
    WindowEdge { Inclusive = "inclusive", Exclusive = "exclusive" }
    /// Which step's property a funnel breakdown uses.
    Attribution { FirstStep = "first_step", LastStep = "last_step" }
    /// What a conversion metric counts: event rows, or distinct entities.
    ConversionCount { Rows = "rows", Entities = "entities" }
    /// What a sequence metric counts: entities with a match, or matches.
    SequenceValue { Entities = "entities", Matches = "matches" }
    /// The number a conversion metric reports.
    ConversionValue { Rate = "rate", Conversions = "conversions", Opportunities = "opportunities" }
    /// What a period-over-period metric reports: the earlier value, the
    /// current minus it, the current over it, or the current over it minus 1.
    Comparison { Previous = "previous", Difference = "difference", Ratio = "ratio", Growth = "growth" }
    /// The number a funnel metric reports.
    FunnelValue { Steps = "steps", Converted = "converted", ConversionRate = "conversion_rate", Entered = "entered",
                  TimeToConvert = "time_to_convert" }
    /// Units for durations in results.
    TimeUnit { Seconds = "seconds", Minutes = "minutes", Hours = "hours", Days = "days" }
    /// First-time cohorts (an entity's first matching event) or recurring ones.
    CohortType { FirstTime = "first_time", Recurring = "recurring" }
    /// Retention counts returns in exactly period k, or in k or later.
    RetentionMatch { On = "on", OnOrAfter = "on_or_after" }
    /// Periods aligned to the calendar, or rolling 24-hour multiples from the cohort event.
    PeriodAnchor { Calendar = "calendar", Rolling = "rolling" }
    /// The number a churn metric reports.
    ChurnValue { Churned = "churned", Rate = "rate", New = "new", Returning = "returning",
                 Resurrected = "resurrected", Dormant = "dormant", NetGrowth = "net_growth" }
}

/// How a `time_between` metric summarises the per-entity durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Avg,
    Median,
    Min,
    Max,
    /// `p90` is `Percentile(0.9)`.
    Percentile(f64),
}

impl Statistic {
    pub const ALL: &'static [&'static str] = &["avg", "median", "min", "max", "p90"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "avg" | "mean" => Statistic::Avg,
            "median" => Statistic::Median,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            _ => {
                let n: f64 = s.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&n) {
                    return None;
                }
                Statistic::Percentile(n / 100.0)
            }
        })
    }
}
