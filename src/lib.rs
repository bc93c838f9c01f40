//! # metricc: a metrics-as-code compiler
//!
//! Product metrics are written as YAML definitions with an expression language,
//! checked like a type checker, and compiled to DataFusion plans that run over
//! Parquet. The compiler is a pipeline of named stages, each with its
//! own representation:
//!
//! ```text
//! text --parse--> ast --resolve--> model --plan--> LogicalPlan --execute--> batches --write--> output
//!   \_________________ diagnostics (data, with spans; rendered once, at the edge) ______________/
//! ```
//!
//! | stage   | module        | in -> out                                          | reports        |
//! |---------|---------------|----------------------------------------------------|----------------|
//! | read    | [`source`], [`catalog`], [`fence`] | paths -> source files, inside the project; Parquet footers -> schemas | I/O, bad Parquet, paths outside |
//! | parse   | [`syntax`]    | YAML text -> [`syntax::ast::Ast`] (spans on every node) | syntax errors |
//! | resolve | [`semantic`]  | AST + schemas -> [`semantic::model::Model`]; a [`semantic::query::Request`] -> [`semantic::query::Query`] | every user error |
//! | lower   | [`lower`]     | model + query -> DataFusion `LogicalPlan`s          | internal bugs only |
//! | execute | [`engine`]    | plan -> record batches                             | data errors, wrapped |
//! | output  | `cli::output` | batches -> table, CSV, JSON, Parquet               | I/O errors     |
//!
//! [`driver::check`] runs the front end, [`semantic::query::resolve`] checks
//! what to compute against the model, [`engine::Engine::compute`] plans and
//! runs it (docs/ARCHITECTURE.md has the whole map):
//!
//! ```no_run
//! use metricc::engine;
//! use metricc::semantic::query::{self, Request, Word};
//! let checked = metricc::driver::check(std::path::Path::new("metrics"));
//! let model = checked.model.expect("no errors, so a model");
//! let request = Request {
//!     metrics: vec![Word::typed("signups"), Word::typed("error_rate")],
//!     grain: Some(metricc::syntax::ast::Grain::Week),
//!     from: Some(Word::typed("2026-03-02")),
//!     to: Some(Word::typed("2026-03-30")),
//!     ..Request::default()
//! };
//! let query = query::resolve(&request, &model).expect("a valid request").query;
//! let engine = engine::Engine::new(&engine::Options::default()).unwrap();
//! let tables = engine.compute(&model, &query).unwrap();
//! let batches = &tables[0].batches;
//! ```
//!
//! `syntax`, `semantic` and `diagnostics` do not use DataFusion, so the front end
//! stays fast to build and test; `catalog` is the one place that reads Parquet.

pub mod catalog;
pub mod cli;
#[cfg(feature = "distributed")]
pub mod cluster;
pub mod diagnostics;
pub mod diff;
pub mod driver;
pub mod engine;
pub mod fence;
pub mod lower;
pub mod report;
pub mod sample;
pub mod scaffold;
pub mod semantic;
pub mod source;
pub mod span;
pub mod spill;
pub mod storage;
pub mod syntax;
pub mod testing;
