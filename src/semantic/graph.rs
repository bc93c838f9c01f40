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
    order
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
