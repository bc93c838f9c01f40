//! resolve: `active` metrics, distinct entities with a row in a trailing
//! window or calendar period at each bucket's end.

use super::{Description, Input, Reads, Shape};
use crate::syntax::ast::{self, Duration, Grain};

/// The YAML key of the kind.
pub const KEY: &str = "active";

/// A resolved `active`.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub source: String,
    pub window: Window,
}

/// The window of an `active` metric, at each bucket's end.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// `window: 7d`: the trailing duration.
    Rolling(Duration),
    /// `calendar: week`: the calendar period holding the bucket's last instant.
    Calendar(Grain),
}

pub(super) fn shape() -> Shape {
    Shape {
        key: KEY,
        reads: Reads::Source,
        needs_entity: true,
        takes_occurrence: false,
        column: true,
        table: None,
        sql: false,
    }
}

pub(super) fn resolve(input: &Input, window: &ast::ActiveWindow) -> Option<Active> {
    Some(Active {
        source: input.src?.def.name.value.clone(),
        window: match window {
            ast::ActiveWindow::Rolling(w) => Window::Rolling(w.value.clone()),
            ast::ActiveWindow::Calendar(g) => Window::Calendar(g.value),
        },
    })
}

impl Active {
    pub(super) fn describe(&self, d: &mut Description) {
        let w = match &self.window {
            Window::Rolling(w) => format!(
                "the trailing {} of local wall-clock time ending at each bucket's end, [end - {}, end): rolling, not calendar",
                w.text, w.text
            ),
            Window::Calendar(g) => format!(
                "the calendar {} holding each bucket's last instant, from its start to the bucket's end ({}-to-date)",
                g.as_str(),
                g.as_str()
            ),
        };
        d.line(
            "active",
            format!("distinct entities with a matching row in {w}"),
        );
        d.line(
            "edges",
            "a row exactly at the window's start counts, one exactly at its end does not; windows count local days (a DST day is 23 or 25 hours); without --by the one window ends at the range's end",
        );
        d.line(
            "breakdown",
            "an entity counts once under every breakdown value it had a row with",
        );
    }
}
