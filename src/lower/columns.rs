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
