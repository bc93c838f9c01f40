//! lower: the names of the internal columns that plans of several modules
//! share. Every internal name starts with `__`, which no user column may
//! (a source's columns are checked against the Parquet schema, and output
//! keeps only user-facing names).

/// The bucket a row falls in: its start, a wall-clock timestamp.
pub const BUCKET: &str = "__bucket";
/// The entity of a per-entity aggregate.
pub const ENTITY: &str = "__entity";
/// The struct an engine UDAF returns, before it is unnested.
pub const STATE: &str = "__f";
/// The cohort a row of a retention or cohort table belongs to.
pub const COHORT: &str = "__cohort";
/// The period since the cohort's, in a retention or cohort table.
pub const PERIOD: &str = "__period";
/// A cohort entity's first cohort event: its wall-clock time ...
pub const COHORT_LOCAL: &str = "__clocal";
/// ... and its instant.
pub const COHORT_TIME: &str = "__ctime";
/// The cohort entity, in a cohort group's rows.
pub const COHORT_ENTITY: &str = "__centity";
/// Marks a real measure row of a cohort group (null on an entity's row
/// without any).
pub const PRESENT: &str = "__present";
/// A measure row's period since its cohort's (0-based).
pub const SINCE: &str = "__k";
/// Whether a cell's period had begun by the range's end.
pub const BEGUN: &str = "__begun";
/// A cohort's size.
pub const SIZE: &str = "__size";
/// Aliases of per-entity passes named so that the groups and tables of a
/// run that read the same pass share it (`Engine::once`): a source's
/// sequence outcomes, a cohort key's entities. Their results can hold a
/// row per entity, so a run under a memory limit never holds them whole.
pub const OUTCOMES: &str = "__outcomes";
pub const COHORTS: &str = "__cohorts";
/// Each entity's first (last) match, one column per filter when shared.
pub const PICKS: &str = "__picks";
/// The passes `Engine::once` shares across the tables of a run.
pub const PASSES: [&str; 3] = [OUTCOMES, COHORTS, PICKS];
