//! metricc
pub mod diagnostics;
pub mod source;
pub mod span;
pub mod syntax;
