//! Every diagnostic metricc can report, one variant each. The doc comment of a
//! variant is its user documentation; `docs/DIAGNOSTICS.md` expands each with an
//! example and a fix, and a test keeps the two in step.

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = ($code:literal, $name:literal, $sev:ident), )*) => {
        /// A stable diagnostic code. Codes never change meaning once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed, e.g. `E0202`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The kebab-case name, e.g. `unknown-column`.
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// Whether the code is an error or a warning.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// The one-paragraph documentation of the code.
            pub fn doc(self) -> &'static str {
                match self { $(Code::$variant => concat!($($doc, "\n"),*),)* }
            }
        }
    };
}

/// Error or warning. Warnings fail `check` only with `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

codes! {
    // ---- read: files -----------------------------------------------------
    /// A file could not be read: it does not exist, is a directory, or
    /// permissions forbid it.
    FileUnreadable = ("E0001", "file-unreadable", Error),
    /// A definition file is not valid UTF-8 text.
    FileNotUtf8 = ("E0002", "file-not-utf8", Error),
    /// A definition file is larger than metricc accepts (8 MiB); definition
    /// files are small, a large one is almost always a mistake.
    FileTooLarge = ("E0003", "file-too-large", Error),
    /// The project directory has no `metricc.yaml`.
    ProjectFileMissing = ("E0004", "project-file-missing", Error),
    /// A path in a file (the project's `files`, a source's `path`, a test
    /// fixture's `csv`) leads outside the project directory: it is absolute,
    /// climbs out with `..`, enters a hidden directory such as `.git/`, or is a
    /// link to a file elsewhere. Metric files come from pull requests, so
    /// metricc reads only below the project unless `--allow-read DIR` names
    /// another directory on the command line.
    PathOutsideProject = ("E0005", "path-outside-project", Error),

    // ---- parse: YAML structure and expressions ---------------------------
    /// The file is not well-formed YAML, or exceeds a safety limit (nesting
    /// depth, alias expansion) that protects against hostile input.
    YamlSyntax = ("E0101", "yaml-syntax", Error),
    /// A YAML value has the wrong shape: a list where a mapping is expected,
    /// a number where text is expected, and so on.
    WrongYamlType = ("E0102", "wrong-yaml-type", Error),
    /// A mapping has a key metricc does not know. Usually a typo.
    UnknownKey = ("E0103", "unknown-key", Error),
    /// A required key is absent.
    MissingKey = ("E0104", "missing-key", Error),
    /// A key appears twice in one mapping; YAML forbids it and the second
    /// would silently win elsewhere.
    DuplicateKey = ("E0105", "duplicate-key", Error),
    /// An expression does not parse.
    ExpressionSyntax = ("E0106", "expression-syntax", Error),
    /// An expression nests parentheses or calls deeper than 64 levels.
    ExpressionTooDeep = ("E0107", "expression-too-deep", Error),
    /// A duration is malformed: it needs a whole number and a unit
    /// (`ms`, `s`, `m`, `h`, `d`, `w`), e.g. `7d`.
    InvalidDuration = ("E0108", "invalid-duration", Error),
    /// A metric has no kind: none of `measure`, `ratio`, `formula`,
    /// `cumulative`, `funnel`, `time_between`, `active`, `retention`,
    /// `churn`, `cohort`.
    MetricKindMissing = ("E0109", "metric-kind-missing", Error),
    /// A metric names two kinds at once, or two keys that exclude each
    /// other (`window` and `calendar`, `offset` and `offset_to_grain`).
    ConflictingKinds = ("E0110", "conflicting-kinds", Error),
    /// A metric, source or step name is not an identifier
    /// (letters, digits and `_`, not starting with a digit).
    InvalidName = ("E0111", "invalid-name", Error),
    /// A setting has a value outside its allowed set.
    InvalidValue = ("E0112", "invalid-value", Error),
    /// A date, timestamp or number literal is out of range or malformed.
    InvalidLiteral = ("E0113", "invalid-literal", Error),
    /// A sequence pattern cannot be read: an element other than `(?1)` or
    /// `(?name)`, `.`, `.*` and `(?t op duration)` with `<`, `<=`, `>`, `>=`
    /// or `==`.
    InvalidPattern = ("E0114", "invalid-pattern", Error),

    // ---- resolve: names, types and data ----------------------------------
    /// A metric names a source that is not defined.
    UnknownSource = ("E0201", "unknown-source", Error),
    /// An expression or setting names a column the source's Parquet files do
    /// not have.
    UnknownColumn = ("E0202", "unknown-column", Error),
    /// A formula, ratio or cumulative metric names a metric that is not defined.
    UnknownMetric = ("E0203", "unknown-metric", Error),
    /// Two metrics or two sources share a name.
    DuplicateDefinition = ("E0204", "duplicate-definition", Error),
    /// Metrics refer to each other in a cycle, so none can be computed.
    MetricCycle = ("E0205", "metric-cycle", Error),
    /// An operator or comparison mixes types that do not fit, e.g. a string
    /// compared with a number, arithmetic on timestamps, or a filter that is
    /// not a boolean.
    TypeMismatch = ("E0206", "type-mismatch", Error),
    /// An aggregate function (`count`, `sum`, ...) appears where a row-level
    /// expression is expected, such as a filter or a funnel step.
    AggregateInRowContext = ("E0207", "aggregate-in-row-context", Error),
    /// A `measure` uses a column outside any aggregate function, so it has no
    /// single value per period.
    AggregateExpected = ("E0208", "aggregate-expected", Error),
    /// An expression calls a function metricc does not have.
    UnknownFunction = ("E0209", "unknown-function", Error),
    /// A function is called with the wrong number or types of arguments.
    WrongArguments = ("E0210", "wrong-arguments", Error),
    /// A time zone is not an IANA name such as `UTC` or `Europe/Paris`.
    InvalidTimeZone = ("E0211", "invalid-time-zone", Error),
    /// No Parquet file matches a source's `path`.
    SourceFilesMissing = ("E0212", "source-files-missing", Error),
    /// A Parquet file's footer cannot be read: the file is truncated, corrupt
    /// or not Parquet.
    ParquetUnreadable = ("E0213", "parquet-unreadable", Error),
    /// The files of one source disagree on a column's type, or a column is
    /// missing from some of them.
    SchemaDrift = ("E0214", "schema-drift", Error),
    /// A source's `time` column is not a timestamp or date.
    TimeColumnType = ("E0215", "time-column-type", Error),
    /// A window, period count or percentile is out of range (zero, negative,
    /// or a percentile outside 0..1).
    InvalidWindow = ("E0216", "invalid-window", Error),
    /// A funnel needs at least two steps.
    TooFewSteps = ("E0217", "too-few-steps", Error),
    /// A funnel setting names a step that is not defined.
    UnknownStep = ("E0218", "unknown-step", Error),
    /// A behavioural metric (funnel, retention, active, churn, time between,
    /// cohort, first occurrence) needs a source with an `entity` column.
    EntityRequired = ("E0219", "entity-required", Error),
    /// A breakdown names a dimension the metric's source does not declare.
    DimensionNotOnSource = ("E0220", "dimension-not-on-source", Error),
    /// A metric is used where its kind cannot be: for example a funnel inside
    /// a formula, or a cumulative metric over a non-additive one.
    IncompatibleMetric = ("E0221", "incompatible-metric", Error),
    /// The time or entity column of a source has null values (by the Parquet
    /// files' statistics): such rows cannot be bucketed or counted per entity.
    NullKeyValues = ("E0222", "null-key-values", Error),
    /// Funnel settings that cannot go together: `order: any` with exclusions,
    /// step windows or `strict_increase` (an unordered funnel has no
    /// "between" and no "step before"); ClickHouse's `strict_order` or
    /// `strict_deduplication` with exclusions, step windows,
    /// `reuse_events: false` or `best_attempt: first_complete`; time-to-
    /// convert bins out of order; or more than 32 steps or exclusions.
    FunnelSettingsConflict = ("E0223", "funnel-settings-conflict", Error),
    /// A metric is built on a chain of more than 64 metrics (formulas,
    /// ratios, running totals of one another). Each level is a step of the
    /// plan; such chains come from generated definitions, not from a catalog.
    MetricChainTooDeep = ("E0224", "metric-chain-too-deep", Error),
    /// An entity's key cannot join its attribute table to a source's rows:
    /// the key is neither a string nor an integer, or the source's entity
    /// column has another type than the table's key.
    EntityKeyType = ("E0225", "entity-key-type", Error),
    /// A sequence pattern names a condition that is not listed (`(?3)` of
    /// two, `(?signup)` of none so named), names none at all, or puts a
    /// time condition first or right after another.
    PatternMismatch = ("E0226", "pattern-mismatch", Error),
    /// A conversion's base and conversion events cannot be matched: the
    /// conversion's source is keyed by another column than the base's and
    /// no `entity:` says which of its columns holds the base's ids, or two
    /// columns that must be equal (the entity ids, a constant property)
    /// have types that never are.
    ConversionKeyMismatch = ("E0227", "conversion-key-mismatch", Error),

    // ---- run: the command line and the data ------------------------------
    /// A metric named on the command line (`metricc run NAME`) is not defined
    /// in the project.
    UnknownMetricArgument = ("E0301", "unknown-metric-argument", Error),
    /// The metric is valid but its kind (or the kind of a metric it uses) has
    /// no engine in this version of `metricc run`, or nothing is left to compute.
    MetricNotComputable = ("E0302", "metric-not-computable", Error),
    /// `--group-by` names a dimension that a source read by the metric does
    /// not declare; a breakdown must exist on every source underneath.
    BreakdownNotPossible = ("E0303", "breakdown-not-possible", Error),
    /// `--from`/`--to` are not dates or local times, the range is empty, or
    /// there is no range at all (neither options nor `default_range`).
    InvalidRange = ("E0304", "invalid-range", Error),
    /// Data of a source could not be read or computed during the run: a
    /// Parquet file vanished, is truncated or corrupt, or its values do not fit.
    DataUnreadable = ("E0305", "data-unreadable", Error),
    /// The result could not be written to `--output`; nothing was changed there.
    OutputUnwritable = ("E0306", "output-unwritable", Error),
    /// The run needed more memory than `--memory-limit` allows even after
    /// spilling to disk.
    MemoryExhausted = ("E0307", "memory-exhausted", Error),
    /// `explain --sql` was asked for a metric whose engine has no portable
    /// SQL: funnels, `time_between`, sequences and the other per-entity
    /// kinds run in metricc's own engines.
    NoPortableSql = ("E0308", "no-portable-sql", Error),
    /// A `period_over_period` metric's offset is not a whole number of the
    /// buckets asked for (`offset: 1 week` with `--by month`), so an earlier
    /// bucket would not land on a bucket; or its `offset_to_grain` period
    /// does not always start on a bucket's start (or the run has no buckets).
    OffsetNotWholeBuckets = ("E0309", "offset-not-whole-buckets", Error),
    /// An entity's attribute table has two rows for one key (with
    /// `valid_from`, two versions starting at one time), so an event would
    /// count once per row. Found when a run reads the table; the run stops.
    EntityKeyNotUnique = ("E0310", "entity-key-not-unique", Error),
    /// `--cluster df://HOST:PORT` names no Ballista scheduler this process
    /// can reach (nothing listens there, or the host is unknown).
    ClusterUnreachable = ("E0311", "cluster-unreachable", Error),

    // ---- test: metric unit tests ------------------------------------------
    /// A fixture row of a test names a column the source's Parquet files do
    /// not have.
    UnknownFixtureColumn = ("E0401", "unknown-fixture-column", Error),
    /// An expected row of a test names a column the result table does not
    /// have, leaves out a key column, or `table` names a table the run does
    /// not produce.
    UnknownResultColumn = ("E0402", "unknown-result-column", Error),
    /// A fixture or expected value cannot be read: a row that is not a
    /// mapping, a value that does not convert to its column's type, a null
    /// time or entity, malformed CSV.
    InvalidFixtureValue = ("E0403", "invalid-fixture-value", Error),
    /// A test gives no rows for a source its metrics read, or rows for a
    /// source they do not read.
    FixtureMissing = ("E0404", "fixture-missing", Error),

    // ---- warnings --------------------------------------------------------
    /// A source is defined but no metric uses it.
    UnusedSource = ("W0001", "unused-source", Warning),
    /// A metric has no `description`; every number on a dashboard needs one.
    MissingDescription = ("W0002", "missing-description", Warning),
    /// A definition file is empty.
    EmptyFile = ("W0003", "empty-file", Warning),
    /// A source's time or entity column has no null counts in some file's
    /// footer (its writer kept no statistics), so `check` cannot rule out
    /// nulls there as it does elsewhere (E0222). Rows without a time or an
    /// entity are not events: every metric leaves them out.
    NullsUnknown = ("W0004", "nulls-unknown", Warning),
    /// An entity is declared but no source's `entity` column is its key, so
    /// no metric can use its attributes.
    UnlinkedEntity = ("W0005", "unlinked-entity", Warning),
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
