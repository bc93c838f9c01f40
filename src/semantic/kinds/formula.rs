//! resolve: `formula` metrics, arithmetic over other metrics (`dau / mau`).

use super::{Cx, Description, Kind, Reads, Resolved, Shape, Text};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::semantic::expr::{Checker, Scope};
use crate::syntax::ast::Expr;

/// The YAML key of the kind.
pub const KEY: &str = "formula";

/// A resolved formula: every name in it is a metric that gives a column.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub expr: Expr,
}

pub(super) fn shape() -> Shape {
    Shape {
        key: KEY,
        reads: Reads::Metrics,
        needs_entity: false,
        takes_occurrence: false,
        column: true,
        table: None,
        sql: true,
    }
}

pub(super) fn resolve<'a>(cx: &Cx<'a>, expr: &Expr, diags: &mut Diagnostics) -> Resolved<'a> {
    let mut c = Checker::new(diags, Scope::Formula { metrics: cx.index });
    let t = c.check(expr);
    let refs = std::mem::take(&mut c.metric_refs);
    if !t.is_numeric() {
        diags.push(
            Diagnostic::new(Code::TypeMismatch, "a formula must give a number")
                .at(expr.span, format!("this is a {t}"))
                .with_help("combine metrics with arithmetic, e.g. `dau / mau`"),
        );
    }
    Resolved {
        refs,
        ..Resolved::of(Some(Kind::Formula(Formula { expr: expr.clone() })))
    }
}

impl Formula {
    pub(super) fn describe(&self, text: Text, d: &mut Description) {
        d.line(
            "formula",
            format!(
                "{}, over metrics joined on bucket and breakdown; division by 0 gives null",
                text(self.expr.span)
            ),
        );
    }
}
