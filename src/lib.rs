//! # metricc: a metrics-as-code compiler
//!
//! Product metrics are written as YAML definitions with an expression language,
//! checked like a type checker, and (in later stages) compiled to DataFusion
//! plans over Parquet. The compiler is a pipeline of named stages, each with its
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
//!
//! [`driver::check`] runs them in order; `metricc check` prints its diagnostics.
//!
//! ```no_run
//! let checked = metricc::driver::check(std::path::Path::new("metrics"));
//! assert_eq!(checked.errors(), 0);
//! let model = checked.model.expect("no errors, so a model");
//! println!("{} metrics", model.metrics.len());
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
