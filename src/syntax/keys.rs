//! parse: the shape of every YAML mapping metricc reads, as data. Each
//! mapping lists its keys, what each key holds and what it means. The
//! readers take their allowed keys from these tables ([`super::fields::Cx::fields`]),
//! and `metricc schema` writes the same tables as JSON Schema
//! ([`super::schema`]), so an editor's completion and `check` cannot
//! disagree about a key.

use super::ast::{
    Attribution, BestAttempt, ChurnValue, CohortType, Comparison, ConversionCount, ConversionValue,
    ExcludeScope, FunnelOrder, FunnelValue, Grain, Occurrence, PeriodAnchor, RetentionMatch,
    SequenceValue, TimeUnit, Weekday, WindowEdge,
};

/// One YAML mapping: a source, a metric, a funnel's settings, a test.
#[derive(Debug)]
pub struct Mapping {
    /// Its name in the JSON Schema's definitions.
    pub id: &'static str,
    /// What it is, for the schema's description.
    pub doc: &'static str,
    pub keys: &'static [Key],
    /// Exactly one of these keys must be present (a metric's kind).
    pub exactly_one: &'static [&'static str],
    /// At most one of these keys may be present.
    pub at_most_one: &'static [&'static str],
    /// `(a, b)`: a mapping with key `a` must have key `b` too.
    pub needs: &'static [(&'static str, &'static str)],
}

/// One key of a mapping.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub value: Value,
    pub required: bool,
    /// What it means, shown by editors on hover.
    pub doc: &'static str,
}

/// What a key holds, as the readers read it.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// Text; a number or boolean is read as its written text.
    Text,
    /// A name: letters, digits and `_`, not starting with a digit.
    Name,
    /// A column, possibly an entity's attribute (`developer.plan`).
    Column,
    /// An expression of metricc's expression language, in text.
    Expr,
    /// A duration such as `7d`, `12h`, `90m`, `30s`.
    Duration,
    /// A calendar offset such as `1 week`, `3 months`.
    Offset,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A whole number.
    Int,
    /// A number (or its text).
    Number,
    /// A share: `5%`, or a fraction as a number.
    Percent,
    Bool,
    /// One of these words.
    Keyword(&'static [&'static str]),
    /// A word of this pattern, with the usual ones to suggest.
    Matching(&'static str, &'static [&'static str]),
    /// A list of values.
    List(&'static Value),
    /// One value, or a list of them.
    OneOrList(&'static Value),
    /// A mapping of known keys.
    Map(&'static Mapping),
    /// A mapping of names to values (`sources:`, `metrics:`); may be empty.
    Entries(&'static Value),
    /// A list of `- name: value` items (a funnel's steps).
    NamedList(&'static Value),
    /// Any of these.
    AnyOf(&'static [Value]),
    /// A row: a mapping of columns to scalar values.
    Row,
}

const fn key(name: &'static str, value: Value, doc: &'static str) -> Key {
    Key {
        name,
        value,
        required: false,
        doc,
    }
}

const fn required(name: &'static str, value: Value, doc: &'static str) -> Key {
    Key {
        name,
        value,
        required: true,
        doc,
    }
}

impl Mapping {
    /// The key named `name`.
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The names of its keys, in table order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + Clone + '_ {
        self.keys.iter().map(|k| k.name)
    }

    /// Whether a reader may report `name` missing: a required key, or one
    /// of a group of which one must be present.
    pub fn may_be_missing(&self, name: &str) -> bool {
        self.key(name).is_some_and(|k| k.required)
            || self.exactly_one.contains(&name)
            || self.needs.iter().any(|(_, b)| *b == name)
    }

    const fn plain(id: &'static str, doc: &'static str, keys: &'static [Key]) -> Mapping {
        Mapping {
            id,
            doc,
            keys,
            exactly_one: &[],
            at_most_one: &[],
            needs: &[],
        }
    }
}

const NAMES: Value = Value::OneOrList(&Value::Name);
const COLUMNS: Value = Value::OneOrList(&Value::Column);
const TEXTS: Value = Value::OneOrList(&Value::Text);

// ---------------------------------------------------------------- files

/// `metricc.yaml`.
pub static PROJECT: Mapping = Mapping::plain(
    "project",
    "A metricc project file (metricc.yaml): the project's settings, and optionally sources, entities and metrics of its own.",
    &[
        required("name", Value::Name, "The project's name."),
        key("description", Value::Text, "What the project measures."),
        key(
            "files",
            TEXTS,
            "The definition files, as paths or globs relative to this file (`definitions/*.yaml`). Default: every `*.yaml` beside it.",
        ),
        key(
            "time_zone",
            Value::Text,
            "The IANA time zone in which days, weeks and months begin (`Europe/Berlin`). Default: UTC.",
        ),
        key(
            "week_start",
            Value::Keyword(Weekday::ALL),
            "The first day of a week. Default: monday.",
        ),
        key(
            "default_range",
            Value::Map(&DEFAULT_RANGE),
            "The range `run` computes when no `--from`/`--to` is given.",
        ),
        key(
            "diff",
            Value::Map(&DIFF),
            "Limits on how much `metricc diff` lets a change move the numbers.",
        ),
        key(
            "sources",
            Value::Entries(&Value::Map(&SOURCE)),
            "Sources by name.",
        ),
        key(
            "entities",
            Value::Entries(&Value::Map(&ENTITY)),
            "Entities by name.",
        ),
        key(
            "metrics",
            Value::Entries(&Value::Map(&METRIC)),
            "Metrics by name.",
        ),
    ],
);

pub static DEFAULT_RANGE: Mapping = Mapping::plain(
    "default_range",
    "A half-open range of local dates.",
    &[
        key("from", Value::Date, "The first day, included."),
        key("to", Value::Date, "The day after the last, excluded."),
    ],
);

pub static DIFF: Mapping = Mapping::plain(
    "diff",
    "How far `metricc diff` lets a metric move before it fails.",
    &[
        key(
            "max_change",
            Value::Percent,
            "The largest relative change of any value allowed (`5%`).",
        ),
        key(
            "metrics",
            Value::Entries(&Value::Percent),
            "The largest relative change per metric, over `max_change`.",
        ),
    ],
);

/// A definition file.
pub static FILE: Mapping = Mapping::plain(
    "definitions",
    "A metricc definition file: sources, entities and metrics.",
    &[
        key(
            "sources",
            Value::Entries(&Value::Map(&SOURCE)),
            "Sources by name: Parquet tables of timestamped rows.",
        ),
        key(
            "entities",
            Value::Entries(&Value::Map(&ENTITY)),
            "Entities by name: the things sources are keyed by, with a table of attributes.",
        ),
        key(
            "metrics",
            Value::Entries(&Value::Map(&METRIC)),
            "Metrics by name.",
        ),
    ],
);

pub static SOURCE: Mapping = Mapping::plain(
    "source",
    "A source: Parquet files of rows, each with a time and usually an entity.",
    &[
        key("description", Value::Text, "What a row is."),
        required(
            "path",
            Value::Text,
            "A Parquet file, a directory of them or a glob, relative to the project.",
        ),
        required("time", Value::Text, "The column holding each row's time."),
        key(
            "entity",
            Value::Text,
            "The column naming the row's entity (a developer, an account).",
        ),
        key(
            "dimensions",
            TEXTS,
            "Columns a metric may be broken down by.",
        ),
    ],
);

pub static ENTITY: Mapping = Mapping::plain(
    "entity",
    "An entity and the table of its attributes.",
    &[
        key("description", Value::Text, "What the entity is."),
        required(
            "key",
            Value::Text,
            "The column naming the entity, in its table and in the sources.",
        ),
        required("path", Value::Text, "The Parquet table of its attributes."),
        key(
            "attributes",
            TEXTS,
            "The attribute columns sources may use as `entity.column`. Default: every column.",
        ),
        key(
            "valid_from",
            Value::Text,
            "The column from which each row holds, when the table keeps versions over time.",
        ),
    ],
);

// ---------------------------------------------------------------- metrics

/// The keys that name a metric's kind, in the order `check` suggests them.
pub const KIND_KEYS: &[&str] = &[
    "measure",
    "ratio",
    "formula",
    "cumulative",
    "funnel",
    "time_between",
    "active",
    "retention",
    "churn",
    "cohort",
    "period_over_period",
    "conversion",
    "sequence",
];

pub static METRIC: Mapping = Mapping {
    id: "metric",
    doc: "A metric: what it computes (exactly one kind key) and over which rows.",
    keys: &[
        key("label", Value::Text, "A short name for tables and charts."),
        key(
            "unit",
            Value::Text,
            "The unit of its numbers, for labels and charts (`USD`, `ms`, `calls`). Shares, entities and durations take theirs from the kind.",
        ),
        key("description", Value::Text, "What the number means."),
        key("owner", Value::Text, "Who answers for it."),
        key("tags", NAMES, "Tags, to select metrics by."),
        key(
            "source",
            Value::Name,
            "The source whose rows it reads; optional when the project has one source.",
        ),
        key(
            "filter",
            Value::Expr,
            "A predicate on the source's rows: only matching rows count (`event = 'api_call'`).",
        ),
        key(
            "occurrence",
            Value::Keyword(Occurrence::ALL),
            "Which of an entity's matching rows count: all, its first or its last.",
        ),
        key(
            "breakdown",
            COLUMNS,
            "Dimensions it is broken down by when the run names none.",
        ),
        key(
            "measure",
            Value::Expr,
            "An aggregate expression over the rows: `count(*)`, `sum(amount)`, `count(distinct developer_id)`.",
        ),
        key(
            "ratio",
            Value::Map(&RATIO),
            "One metric divided by another, each aggregated first.",
        ),
        key(
            "formula",
            Value::Expr,
            "An expression over other metrics of the same buckets (`signups / visitors`).",
        ),
        key(
            "cumulative",
            Value::Map(&CUMULATIVE),
            "A running total of another metric: all time, over a trailing window, or period to date.",
        ),
        key(
            "funnel",
            Value::Map(&FUNNEL),
            "Entities that pass ordered steps within a window.",
        ),
        key(
            "time_between",
            Value::Map(&TIME_BETWEEN),
            "The time from an entity's first `from` event to its first `to` event after it.",
        ),
        key(
            "active",
            Value::Map(&ACTIVE),
            "Distinct active entities over a trailing window or calendar period (DAU, WAU, MAU).",
        ),
        key(
            "retention",
            Value::Map(&RETENTION),
            "The share of a cohort that returns in each later period.",
        ),
        key(
            "churn",
            Value::Map(&CHURN),
            "Entities that stopped (or started, came back) being active.",
        ),
        key(
            "cohort",
            Value::Map(&COHORT),
            "Another metric followed by cohort and period since the cohort event (LTV curves).",
        ),
        key(
            "period_over_period",
            Value::Map(&PERIOD_OVER_PERIOD),
            "Another metric against its value an offset earlier (week over week).",
        ),
        key(
            "conversion",
            Value::Map(&CONVERSION),
            "Base events followed by a conversion event within a window (MetricFlow's conversion metrics).",
        ),
        key(
            "sequence",
            Value::Map(&SEQUENCE),
            "Entities (or matches) whose events follow a pattern (ClickHouse's sequenceMatch).",
        ),
    ],
    exactly_one: KIND_KEYS,
    at_most_one: &[],
    needs: &[],
};

pub static RATIO: Mapping = Mapping::plain(
    "ratio",
    "A ratio of two metrics.",
    &[
        required("numerator", Value::Name, "The metric on top."),
        required("denominator", Value::Name, "The metric below."),
    ],
);

pub static CUMULATIVE: Mapping = Mapping {
    id: "cumulative",
    doc: "A running total of another metric.",
    keys: &[
        required("metric", Value::Name, "The metric to accumulate."),
        key(
            "window",
            Value::Duration,
            "A trailing window (`7d`); without it and `to_date`, all time.",
        ),
        key(
            "to_date",
            Value::Keyword(Grain::ALL),
            "Accumulate from the start of each calendar period (`month`: month to date).",
        ),
    ],
    exactly_one: &[],
    at_most_one: &["window", "to_date"],
    needs: &[],
};

pub static TIME_BETWEEN: Mapping = Mapping::plain(
    "time_between",
    "The time between two events of each entity.",
    &[
        required("from", Value::Expr, "The predicate of the first event."),
        required("to", Value::Expr, "The predicate of the second event."),
        key(
            "statistic",
            Value::Matching(
                "^(avg|mean|median|min|max|p[0-9]+(\\.[0-9]+)?)$",
                super::ast::Statistic::ALL,
            ),
            "How the entities' durations are summarised: avg, median, min, max or a percentile such as p90. Default: median.",
        ),
        key(
            "unit",
            Value::Keyword(TimeUnit::ALL),
            "The unit of the result. Default: hours.",
        ),
        key(
            "within",
            Value::Duration,
            "Only a `to` event within this long of the `from` event counts.",
        ),
    ],
);

pub static ACTIVE: Mapping = Mapping {
    id: "active",
    doc: "Distinct active entities.",
    keys: &[
        key(
            "window",
            Value::Duration,
            "A trailing window ending at each bucket's end (`7d`: weekly actives).",
        ),
        key(
            "calendar",
            Value::Keyword(Grain::ALL),
            "The calendar period holding each bucket (`week`).",
        ),
    ],
    exactly_one: &["window", "calendar"],
    at_most_one: &[],
    needs: &[],
};

pub static RETENTION: Mapping = Mapping::plain(
    "retention",
    "A retention matrix: cohorts by their first period, returns by period after it.",
    &[
        required(
            "cohort",
            Value::Expr,
            "The predicate of the event that puts an entity in a cohort.",
        ),
        required(
            "return",
            Value::Expr,
            "The predicate of an event that counts as a return.",
        ),
        required(
            "period",
            Value::Keyword(Grain::ALL),
            "The length of a period.",
        ),
        required(
            "periods",
            Value::Int,
            "How many periods after the cohort's (1 to 1000).",
        ),
        key(
            "cohort_type",
            Value::Keyword(CohortType::ALL),
            "first_time: an entity's first cohort event only; recurring: every period with one. Default: first_time.",
        ),
        key(
            "match",
            Value::Keyword(RetentionMatch::ALL),
            "on: a return in exactly period k; on_or_after: in k or later. Default: on.",
        ),
        key(
            "anchor",
            Value::Keyword(PeriodAnchor::ALL),
            "calendar periods, or rolling ones from each cohort event. Default: calendar.",
        ),
        key(
            "min_occurrences",
            Value::Int,
            "Return events needed in a period to count as returned. Default: 1.",
        ),
    ],
);

pub static CHURN: Mapping = Mapping::plain(
    "churn",
    "Entities gained and lost between consecutive windows of activity.",
    &[
        required(
            "window",
            Value::Duration,
            "The activity window: an entity is active when it has a row within it.",
        ),
        key(
            "value",
            Value::Keyword(ChurnValue::ALL),
            "The number reported. Default: churned.",
        ),
    ],
);

pub static COHORT: Mapping = Mapping::plain(
    "cohort",
    "Another metric by cohort (the period of each entity's cohort event) and period since it.",
    &[
        required("metric", Value::Name, "The metric to follow."),
        key(
            "source",
            Value::Name,
            "The source of the cohort events, when not the metric's.",
        ),
        required(
            "event",
            Value::Expr,
            "The predicate of the event that puts an entity in its cohort.",
        ),
        required(
            "period",
            Value::Keyword(Grain::ALL),
            "The length of a cohort and of a period after it.",
        ),
        required(
            "periods",
            Value::Int,
            "How many periods after the cohort's (1 to 1000).",
        ),
        key(
            "per_entity",
            Value::Bool,
            "Divide by the cohort's size (per developer). Default: false.",
        ),
        key(
            "cumulative",
            Value::Bool,
            "Accumulate over the periods (LTV). Default: false.",
        ),
    ],
);

pub static PERIOD_OVER_PERIOD: Mapping = Mapping {
    id: "period_over_period",
    doc: "Another metric against an earlier value.",
    keys: &[
        required("metric", Value::Name, "The metric to compare."),
        key(
            "offset",
            Value::Offset,
            "How far back the earlier value is (`1 week`, `1 year`).",
        ),
        key(
            "offset_to_grain",
            Value::Keyword(Grain::ALL),
            "Compare with the first bucket of the calendar period (`quarter`: quarter to date).",
        ),
        key(
            "value",
            Value::Keyword(Comparison::ALL),
            "previous, difference, ratio or growth (ratio minus 1). Default: growth.",
        ),
    ],
    exactly_one: &["offset", "offset_to_grain"],
    at_most_one: &[],
    needs: &[],
};

pub static CONVERSION: Mapping = Mapping::plain(
    "conversion",
    "Base events followed by a conversion event of the same entity within a window.",
    &[
        required("base", Value::Expr, "The predicate of a base event."),
        required(
            "conversion",
            Value::AnyOf(&[Value::Expr, Value::Map(&CONVERSION_EVENT)]),
            "The predicate of a conversion event, or `{ source, where, entity }` for one in another source.",
        ),
        key(
            "within",
            Value::Duration,
            "The window after a base event. Default: unbounded.",
        ),
        key(
            "constant_properties",
            Value::OneOrList(&Value::AnyOf(&[
                Value::Column,
                Value::Map(&CONSTANT_PROPERTY),
            ])),
            "Columns that must be equal on the base and conversion events.",
        ),
        key(
            "count",
            Value::Keyword(ConversionCount::ALL),
            "Count base rows or distinct entities. Default: rows.",
        ),
        key(
            "value",
            Value::Keyword(ConversionValue::ALL),
            "The number reported. Default: rate.",
        ),
    ],
);

pub static CONVERSION_EVENT: Mapping = Mapping::plain(
    "conversion_event",
    "A conversion event, possibly in another source.",
    &[
        key(
            "source",
            Value::Name,
            "The source of the conversion events.",
        ),
        required("where", Value::Expr, "The predicate of a conversion event."),
        key(
            "entity",
            Value::Column,
            "The column of the conversion's rows holding the base's entity (may be an attribute: `developer.visitor_id`).",
        ),
    ],
);

pub static CONSTANT_PROPERTY: Mapping = Mapping::plain(
    "constant_property",
    "A column of the base event that must equal a column of the conversion event.",
    &[
        required("base", Value::Column, "The base event's column."),
        required(
            "conversion",
            Value::Column,
            "The conversion event's column.",
        ),
    ],
);

pub static SEQUENCE: Mapping = Mapping::plain(
    "sequence",
    "A pattern over each entity's events, in ClickHouse's sequenceMatch syntax.",
    &[
        required(
            "conditions",
            Value::NamedList(&Value::Expr),
            "The kinds of event the pattern names, as `- name: predicate`; `(?1)` is the first.",
        ),
        required(
            "pattern",
            Value::Text,
            "The pattern: `(?1).*(?2)`, `(?1)(?t<=60)(?2)`, `(?gap>=7d)`.",
        ),
        key(
            "value",
            Value::Keyword(SequenceValue::ALL),
            "Entities with a match, or matches. Default: entities.",
        ),
    ],
);

pub static FUNNEL: Mapping = Mapping::plain(
    "funnel",
    "Steps an entity passes in order within a window.",
    &[
        required(
            "steps",
            Value::NamedList(&Value::AnyOf(&[Value::Expr, Value::Map(&STEP)])),
            "The steps, as `- name: predicate` or `- name: { where, within }`.",
        ),
        required(
            "within",
            Value::Duration,
            "The conversion window from the first step (`14d`), or `unbounded`.",
        ),
        key(
            "order",
            Value::Keyword(FunnelOrder::ALL),
            "How steps follow each other. Default: ordered.",
        ),
        key(
            "reuse_events",
            Value::Bool,
            "Whether one event may match two steps. Default: false.",
        ),
        key(
            "strict_increase",
            Value::Bool,
            "Steps need strictly increasing times (ClickHouse's strict_increase).",
        ),
        key(
            "strict_deduplication",
            Value::Bool,
            "A repeated step event ends the attempt (ClickHouse's strict_deduplication).",
        ),
        key(
            "window_edge",
            Value::Keyword(WindowEdge::ALL),
            "Whether an event exactly at the window's end is inside it.",
        ),
        key(
            "best_attempt",
            Value::Keyword(BestAttempt::ALL),
            "Which attempt counts among those reaching the most steps.",
        ),
        key(
            "time_to_convert",
            Value::Map(&TIME_TO_CONVERT),
            "A histogram of the time between two steps.",
        ),
        key(
            "exclude_scope",
            Value::Keyword(ExcludeScope::ALL),
            "Whom an exclusion disqualifies: the attempt, or the entity.",
        ),
        key(
            "exclude",
            Value::OneOrList(&Value::Map(&EXCLUSION)),
            "Events that disqualify an attempt between two steps (PostHog's exclusions).",
        ),
        key(
            "hold_constant",
            COLUMNS,
            "Columns every step's event must share (PostHog's holding constant).",
        ),
        key(
            "attribution",
            Value::AnyOf(&[Value::Keyword(Attribution::ALL), Value::Map(&ATTRIBUTION)]),
            "Which step's value a breakdown uses: first_step, last_step or `{ step: name }`.",
        ),
        key(
            "value",
            Value::Keyword(FunnelValue::ALL),
            "The number reported. Default: steps (a table of steps).",
        ),
    ],
);

pub static STEP: Mapping = Mapping::plain(
    "step",
    "A funnel step with a window of its own.",
    &[
        required("where", Value::Expr, "The step's predicate."),
        key(
            "within",
            Value::Duration,
            "The most time from the previous step.",
        ),
    ],
);

pub static TIME_TO_CONVERT: Mapping = Mapping::plain(
    "time_to_convert",
    "Time between two steps, in bins.",
    &[
        key("from", Value::Name, "The earlier step. Default: the first."),
        key("to", Value::Name, "The later step. Default: the last."),
        key(
            "bins",
            Value::List(&Value::Duration),
            "The bins' upper edges (`[1h, 1d, 7d]`).",
        ),
    ],
);

pub static EXCLUSION: Mapping = Mapping::plain(
    "exclusion",
    "An event that disqualifies an attempt between two steps.",
    &[
        required("event", Value::Expr, "The predicate of the excluded event."),
        required(
            "between",
            Value::List(&Value::Name),
            "The two steps it must not fall between: `[first_step, later_step]`.",
        ),
    ],
);

pub static ATTRIBUTION: Mapping = Mapping::plain(
    "attribution",
    "The step whose value a funnel breakdown uses.",
    &[key("step", Value::Name, "The step's name.")],
);

// ---------------------------------------------------------------- tests

/// A test file (`*.test.yaml`).
pub static TEST_FILE: Mapping = Mapping::plain(
    "test_file",
    "A metricc test file: metric unit tests.",
    &[required(
        "tests",
        Value::List(&Value::Map(&TEST)),
        "The tests, each a list item.",
    )],
);

pub static TEST: Mapping = Mapping {
    id: "test",
    doc: "One metric unit test: fixture rows in, expected rows out; or definitions that `check` must reject.",
    keys: &[
        required("name", Value::Name, "The test's name."),
        key("description", Value::Text, "What the test shows."),
        key("metrics", NAMES, "The metrics it computes."),
        key(
            "from",
            Value::Text,
            "Start of the range, local time (`2026-01-05`).",
        ),
        key("to", Value::Text, "End of the range, excluded."),
        key("by", Value::Keyword(Grain::ALL), "The time buckets."),
        key("group_by", COLUMNS, "Dimensions to break down by."),
        key(
            "time_zone",
            Value::Text,
            "The time zone for this test, over the project's.",
        ),
        key(
            "week_start",
            Value::Keyword(Weekday::ALL),
            "The first day of a week for this test.",
        ),
        key(
            "table",
            Value::Name,
            "The result table compared: `metrics`, or a metric with a table of its own.",
        ),
        key(
            "tolerance",
            Value::Number,
            "The largest relative difference of a number accepted as equal.",
        ),
        key(
            "complete",
            Value::Bool,
            "false: result rows no expected row names are not reported. Default: true.",
        ),
        key(
            "given",
            Value::Entries(&Value::AnyOf(&[
                Value::List(&Value::Row),
                Value::Map(&CSV_FIXTURE),
            ])),
            "The rows of each source, as a list of `{ column: value }` or `{ csv: path }`.",
        ),
        key("expect", Value::List(&Value::Row), "The expected rows."),
        key(
            "define",
            Value::Map(&FILE),
            "Definitions added for this test only.",
        ),
        key(
            "expect_error",
            Value::Text,
            "A diagnostic code the definitions must produce (`E0202`).",
        ),
    ],
    exactly_one: &["expect", "expect_error"],
    at_most_one: &[],
    needs: &[("expect", "metrics"), ("expect_error", "define")],
};

pub static CSV_FIXTURE: Mapping = Mapping::plain(
    "csv_fixture",
    "A source's rows from a CSV file.",
    &[required(
        "csv",
        Value::Text,
        "The CSV file, relative to the test file.",
    )],
);

/// `root` and every mapping reachable from it, each once, `root` first.
pub fn reachable(root: &'static Mapping) -> Vec<&'static Mapping> {
    fn walk(v: &'static Value, out: &mut Vec<&'static Mapping>) {
        match v {
            Value::Map(m) => visit(m, out),
            Value::List(v) | Value::OneOrList(v) | Value::Entries(v) | Value::NamedList(v) => {
                walk(v, out)
            }
            Value::AnyOf(vs) => vs.iter().for_each(|v| walk(v, out)),
            Value::Text
            | Value::Name
            | Value::Column
            | Value::Expr
            | Value::Duration
            | Value::Offset
            | Value::Date
            | Value::Int
            | Value::Number
            | Value::Percent
            | Value::Bool
            | Value::Keyword(_)
            | Value::Matching(..)
            | Value::Row => {}
        }
    }
    fn visit(m: &'static Mapping, out: &mut Vec<&'static Mapping>) {
        if out.iter().any(|x| std::ptr::eq(*x, m)) {
            return;
        }
        out.push(m);
        for k in m.keys {
            walk(&k.value, out);
        }
    }
    let mut out = Vec::new();
    visit(root, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_name_keys_of_their_mapping_and_ids_are_unique() {
        let mut all: Vec<&Mapping> = Vec::new();
        for m in reachable(&PROJECT).into_iter().chain(reachable(&TEST_FILE)) {
            if !all.iter().any(|x| std::ptr::eq(*x, m)) {
                all.push(m);
            }
        }
        for m in &all {
            let paired = m.needs.iter().flat_map(|(a, b)| [a, b]);
            for k in m.exactly_one.iter().chain(m.at_most_one).chain(paired) {
                assert!(m.key(k).is_some(), "{}: `{k}` is not a key", m.id);
            }
            let mut names: Vec<_> = m.names().collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), m.keys.len(), "{}: a key twice", m.id);
            assert_eq!(
                all.iter().filter(|x| x.id == m.id).count(),
                1,
                "two mappings called {}",
                m.id
            );
        }
    }
}
