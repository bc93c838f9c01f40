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
//! | read    | [`source`], [`catalog`] | paths -> source files; Parquet footers -> schemas | I/O, bad Parquet |
//! | parse   | [`syntax`]    | YAML text -> [`syntax::ast::Ast`] (spans on every node) | syntax errors |
//! | resolve | [`semantic`]  | AST + schemas -> [`semantic::model::Model`]         | every user error |
//! | lower   | [`lower`]     | model + [`lower::Query`] -> DataFusion `LogicalPlan` | internal bugs only |
//! | execute | [`engine`]    | plan -> record batches                             | data errors, wrapped |
//! | output  | `cli::output` | batches -> table, CSV, JSON, Parquet               | I/O errors     |
//!
//! [`driver::check`] runs the front end; [`engine::Engine::compute`] plans
//! and runs a query:
//!
//! ```no_run
//! use metricc::{engine, lower};
//! let checked = metricc::driver::check(std::path::Path::new("metrics"));
//! let model = checked.model.expect("no errors, so a model");
//! let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap().and_hms_opt(0, 0, 0).unwrap();
//! let query = lower::Query {
//!     metrics: vec!["signups".into(), "error_rate".into()],
//!     grain: Some(metricc::syntax::ast::Grain::Week),
//!     range: lower::Range { from: day(2), to: day(30) },
//!     group_by: vec![],
//! };
//! let engine = engine::Engine::new(&engine::Options::default()).unwrap();
//! let tables = engine.compute(&model, &query).unwrap();
//! let batches = &tables[0].batches;
//! ```
//!
//! `syntax`, `semantic` and `diagnostics` do not use DataFusion, so the front end
//! stays fast to build and test; `catalog` is the one place that reads Parquet.

pub mod catalog;
pub mod cli;
pub mod diagnostics;
pub mod driver;
pub mod engine;
pub mod lower;
pub mod sample;
pub mod semantic;
pub mod source;
pub mod span;
pub mod syntax;
pub mod testing;
