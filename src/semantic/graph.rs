//! Dependencies between metrics: cycle detection and dependency order.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::Name;

/// Orders `n` metrics so each comes after its dependencies (`deps[i]` are
/// indices with the referencing name). Reports every cycle once; metrics on a
/// cycle are left out of the order.
pub fn order(names: &[&Name], deps: &[Vec<(usize, Name)>], diags: &mut Diagnostics) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
        Cyclic,
    }
    let n = names.len();
    let mut mark = vec![Mark::New; n];
    let mut order = Vec::with_capacity(n);
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency index); `path` holds the active chain.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some((dep, reference)) = deps[node].get(*next) {
                *next += 1;
                match mark[*dep] {
                    Mark::New => {
                        mark[*dep] = Mark::Active;
                        stack.push((*dep, 0));
                    }
                    Mark::Active => {
                        let start = stack
                            .iter()
                            .position(|(m, _)| m == dep)
                            .expect("active node is on the stack");
                        let cycle: Vec<usize> = stack[start..].iter().map(|(m, _)| *m).collect();
                        report_cycle(names, deps, &cycle, reference, diags);
                        for m in cycle {
                            mark[m] = Mark::Cyclic;
                        }
                    }
                    Mark::Done | Mark::Cyclic => {}
                }
            } else {
                stack.pop();
                if mark[node] == Mark::Active {
                    let clean = deps[node].iter().all(|(d, _)| mark[*d] == Mark::Done);
                    mark[node] = if clean { Mark::Done } else { Mark::Cyclic };
                    if clean {
                        order.push(node);
                    }
                }
            }
        }
    }
    too_deep(names, deps, order, diags)
}

/// Longest chain of metrics one metric may be built on (itself included).
/// Each level is a step of the plan, so a chain of 1,500 formulas would
/// exhaust the planner's stack; real catalogs stay under ten.
pub const MAX_METRIC_DEPTH: usize = 64;

/// `order` without the metrics built on a chain longer than
/// [`MAX_METRIC_DEPTH`]; each metric just past the limit is reported once.
fn too_deep(
    names: &[&Name],
    deps: &[Vec<(usize, Name)>],
    order: Vec<usize>,
    diags: &mut Diagnostics,
) -> Vec<usize> {
    let mut depth = vec![0usize; names.len()];
    // The dependency of each metric on its longest chain.
    let mut via: Vec<Option<usize>> = vec![None; names.len()];
    let mut kept = Vec::with_capacity(order.len());
    for node in order {
        let deepest = deps[node].iter().max_by_key(|(d, _)| depth[*d]);
        depth[node] = 1 + deepest.map_or(0, |(d, _)| depth[*d]);
        via[node] = deepest.map(|(d, _)| *d);
        if depth[node] <= MAX_METRIC_DEPTH {
            kept.push(node);
            continue;
        }
        if depth[node] == MAX_METRIC_DEPTH + 1 {
            let mut chain = vec![node];
            while let Some(next) = via[*chain.last().expect("chain")] {
                chain.push(next);
            }
            let shown: Vec<&str> = chain
                .iter()
                .take(4)
                .map(|&i| names[i].value.as_str())
                .collect();
            let first = names[*chain.last().expect("chain")].value.as_str();
            diags.push(
                Diagnostic::new(
                    Code::MetricChainTooDeep,
                    format!(
                        "`{}` is built on a chain of {} metrics: {} -> ... -> {first}",
                        names[node].value,
                        depth[node],
                        shown.join(" -> ")
                    ),
                )
                .at(
                    names[node].span,
                    format!("more than {MAX_METRIC_DEPTH} metrics deep"),
                )
                .with_help(format!(
                    "a metric may be built on at most {MAX_METRIC_DEPTH} levels of other metrics; \
                     compute an intermediate metric from its source instead of from the chain"
                )),
            );
        }
    }
    kept
}

fn report_cycle(
    names: &[&Name],
    deps: &[Vec<(usize, Name)>],
    cycle: &[usize],
    closing: &Name,
    diags: &mut Diagnostics,
) {
    let path: Vec<&str> = cycle
        .iter()
        .chain(cycle.first())
        .map(|&i| names[i].value.as_str())
        .collect();
    let mut d = Diagnostic::new(
        Code::MetricCycle,
        format!(
            "metrics depend on each other in a cycle: {}",
            path.join(" -> ")
        ),
    )
    .at(
        closing.span,
        format!(
            "`{}` refers back to `{}`",
            names[*cycle.last().expect("cycle")].value,
            closing.value
        ),
    );
    for w in cycle.windows(2) {
        if let Some((_, r)) = deps[w[0]].iter().find(|(d, _)| *d == w[1]) {
            d = d.with_secondary(
                r.span,
                format!("`{}` uses `{}`", names[w[0]].value, r.value),
            );
        }
    }
    diags.push(d.with_help(
        "break the cycle: one of these metrics must be computed from sources, not from the others",
    ));
}
