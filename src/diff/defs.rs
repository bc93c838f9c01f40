//! What changed between two versions' definitions, by meaning.
//!
//! Two readings of each metric and source are compared:
//! - its YAML as written, canonicalised: keys in any order, expressions
//!   parsed (so `status<400` and `status < 400` are one), durations in
//!   milliseconds (`7d` is `168h`), comments and layout gone. This says
//!   *what* changed, key by key, with the place in both versions.
//! - its resolved meaning: the checked kind, filter and breakdown with
//!   defaults applied, printed without spans. This says *whether* the
//!   numbers can change: writing out a default (`order: ordered`) changes
//!   the text, not the meaning.
//!
//! A metric whose text is the same but which uses a changed metric, reads
//! a changed source or lives in a project whose time settings changed is
//! "affected", with the path that leads to it.

use crate::driver::Checked;
use crate::semantic::model::Model;
use crate::span::{FileId, Span};
use crate::syntax::ast::{CallArgs, Expr, ExprKind, Literal};
use crate::syntax::scalar::OffsetMap;
use crate::syntax::yaml::{self, Node, NodeKind};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Keys that document a definition and never change its numbers.
pub const DOC_KEYS: &[&str] = &["description", "label", "owner", "tags"];

/// A place in one version's files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One key that changed: `funnel.within` from `7d` to `9d`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// The key's path inside the definition: `funnel.steps[first_call]`.
    pub path: String,
    /// As written in the base; `None` when the head added it.
    pub base: Option<String>,
    /// As written in the head; `None` when the head removed it.
    pub head: Option<String>,
    pub base_at: Option<Loc>,
    pub head_at: Option<Loc>,
}

/// What happened to a metric or source between the versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Added,
    Removed,
    /// Same definition, new name (a rename with an edit is a metric
    /// removed and one added). `because` as for `Affected`, when what it
    /// uses changed.
    Renamed {
        from: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        because: Option<Vec<String>>,
    },
    /// Its definition's meaning changed.
    Changed,
    /// Written differently with the same meaning (a default written out).
    SameMeaning,
    /// Only its description, label, owner or tags changed.
    Documentation,
    /// Its text did not change but its numbers may: `because` is the path,
    /// from what changed to it (`signups -> signup_rate`).
    Affected {
        because: Vec<String>,
    },
}

impl Status {
    /// Whether its numbers may differ, so that `diff` computes them.
    pub fn computes(&self) -> bool {
        matches!(
            self,
            Status::Added
                | Status::Removed
                | Status::Changed
                | Status::Affected { .. }
                | Status::Renamed {
                    because: Some(_),
                    ..
                }
        )
    }
}

/// A metric's or source's entry in the difference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Its name in the head (in the base when it was removed).
    pub name: String,
    #[serde(flatten)]
    pub status: Status,
    pub changes: Vec<Change>,
    pub base_at: Option<Loc>,
    pub head_at: Option<Loc>,
}

/// The difference of two versions' definitions.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DefDiff {
    /// Project settings that change every metric's numbers (time zone, week start).
    pub project: Vec<Change>,
    pub sources: Vec<Entry>,
    pub metrics: Vec<Entry>,
}

impl DefDiff {
    /// Whether any definition differs at all (documentation included).
    pub fn is_empty(&self) -> bool {
        self.project.is_empty() && self.sources.is_empty() && self.metrics.is_empty()
    }

    /// The metrics whose numbers are computed: (base name, head name), one
    /// side `None` for added and removed metrics.
    pub fn computed(&self) -> Vec<(Option<String>, Option<String>)> {
        self.metrics
            .iter()
            .filter(|e| e.status.computes())
            .map(|e| match &e.status {
                Status::Added => (None, Some(e.name.clone())),
                Status::Removed => (Some(e.name.clone()), None),
                Status::Renamed { from, .. } => (Some(from.clone()), Some(e.name.clone())),
                _ => (Some(e.name.clone()), Some(e.name.clone())),
            })
            .collect()
    }
}

/// A YAML value reduced to what it means: keys sorted, expressions and
/// durations in canonical text, layout and comments gone.
#[derive(Debug, Clone, PartialEq)]
enum Canon {
    Map(BTreeMap<String, Item>),
    Seq(Vec<Item>),
    /// Canonical text; two scalars are equal when theirs are.
    Scalar(String),
}

/// A canonical value with how and where it was written.
#[derive(Debug, Clone)]
struct Item {
    canon: Canon,
    written: String,
    span: Span,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.canon == other.canon
    }
}

/// One version's definitions, as written and as resolved.
struct Side<'a> {
    checked: &'a Checked,
    model: &'a Model,
    /// Metric name -> its YAML value.
    metrics: HashMap<String, Item>,
    /// Metric name -> its YAML node and file, kept to be read again with
    /// renames ([`Side::metric_renamed`]) without parsing the file again.
    nodes: HashMap<String, (Node, FileId)>,
    sources: HashMap<String, Item>,
    /// The project file's settings.
    project: Option<Item>,
}

impl<'a> Side<'a> {
    fn new(checked: &'a Checked, model: &'a Model) -> Self {
        let mut side = Side {
            checked,
            model,
            metrics: HashMap::new(),
            nodes: HashMap::new(),
            sources: HashMap::new(),
            project: None,
        };
        let renames = HashMap::new();
        for (id, file) in checked.sources.iter() {
            let Ok(Some(root)) = yaml::parse(id, &file.text) else {
                continue;
            };
            let NodeKind::Map(entries) = &root.kind else {
                continue;
            };
            let is_project = file
                .path
                .file_name()
                .is_some_and(|n| n == crate::driver::PROJECT_FILE)
                && id == FileId(0);
            if is_project {
                side.project = Some(item(&root, &file.text, &renames));
                continue;
            }
            for (key, value) in entries {
                let is_metrics = match key.as_str() {
                    Some("metrics") => true,
                    Some("sources") => false,
                    _ => continue,
                };
                if let NodeKind::Map(defs) = &value.kind {
                    for (name, def) in defs {
                        let Some(name) = name.as_str() else { continue };
                        let canon = item(def, &file.text, &renames);
                        if is_metrics {
                            side.metrics.insert(name.to_string(), canon);
                            side.nodes.insert(name.to_string(), (def.clone(), id));
                        } else {
                            side.sources.insert(name.to_string(), canon);
                        }
                    }
                }
            }
        }
        side
    }

    /// The metric's YAML again, with names of renamed metrics replaced by
    /// their new ones (so that a formula over a renamed metric is not a
    /// change).
    fn metric_renamed(&self, name: &str, renames: &HashMap<String, String>) -> Option<Item> {
        let (node, file) = self.nodes.get(name)?;
        Some(item(node, &self.checked.sources.get(*file).text, renames))
    }

    /// Where metric `name`'s name is written.
    fn metric_at(&self, name: &str) -> Option<Loc> {
        let def = self
            .checked
            .ast
            .metrics
            .iter()
            .find(|m| m.name.value == name)?;
        Some(self.loc(def.name.span))
    }

    /// Where source `name`'s name is written.
    fn source_at(&self, name: &str) -> Option<Loc> {
        let def = self
            .checked
            .ast
            .sources
            .iter()
            .find(|s| s.name.value == name)?;
        Some(self.loc(def.name.span))
    }

    fn loc(&self, span: Span) -> Loc {
        let file = self.checked.sources.get(span.file);
        let (line, column) = crate::span::line_col(&file.text, span.start as usize);
        Loc {
            file: file.name.clone(),
            line,
            column,
        }
    }

    /// The meaning of a metric: its resolved kind, filter and breakdown,
    /// printed without spans or as-written text.
    fn meaning(&self, name: &str) -> Option<String> {
        let m = self.model.metric(name)?;
        Some(crate::span::without_spans(|| {
            format!("{:?}|{:?}|{:?}", m.kind, m.filter, m.breakdown)
        }))
    }
}

/// The entities whose attribute tables differ between two versions (or
/// that only one has): every metric over a source linked to one may give
/// other numbers.
pub fn changed_entities(base: &Model, head: &Model) -> BTreeSet<String> {
    let meaning = |e: &crate::semantic::model::Entity| {
        let files: Vec<std::path::PathBuf> = e
            .schema
            .files
            .iter()
            .map(|f| f.canonicalize().unwrap_or_else(|_| f.clone()))
            .collect();
        format!(
            "{:?}|{:?}|{}|{:?}|{:?}",
            files, e.schema.columns, e.key, e.attributes, e.valid_from
        )
    };
    let mut out = BTreeSet::new();
    for e in base.entities.iter().chain(&head.entities) {
        let same = match (base.entity(&e.name), head.entity(&e.name)) {
            (Some(a), Some(b)) => meaning(a) == meaning(b),
            _ => false,
        };
        if !same {
            out.insert(e.name.clone());
        }
    }
    out
}

/// Whether two versions' sources mean the same: the same files, columns
/// and roles.
pub fn same_source(a: &crate::semantic::model::Source, b: &crate::semantic::model::Source) -> bool {
    let meaning = |s: &crate::semantic::model::Source| {
        // The same file, however its path is written.
        let files: Vec<std::path::PathBuf> = s
            .schema
            .files
            .iter()
            .map(|f| f.canonicalize().unwrap_or_else(|_| f.clone()))
            .collect();
        crate::span::without_spans(|| {
            format!(
                "{:?}|{:?}|{:?}|{:?}|{:?}",
                files, s.schema.columns, s.time, s.entity, s.dimensions
            )
        })
    };
    meaning(a) == meaning(b)
}

/// The keys whose values name metrics: where a renamed metric's old name
/// is read as its new one. Anywhere else a name is a column's.
const METRIC_REFS: &[&str] = &[
    "ratio.numerator",
    "ratio.denominator",
    "formula",
    "cumulative.metric",
    "cohort.metric",
];

/// `node` canonicalised; `text` is its file's.
fn item(node: &Node, text: &str, renames: &HashMap<String, String>) -> Item {
    item_at(node, text, renames, "")
}

/// [`item`] of the value at `path` (`ratio.numerator`) of a definition.
fn item_at(node: &Node, text: &str, renames: &HashMap<String, String>, path: &str) -> Item {
    let written = written(node, text);
    let canon = match &node.kind {
        NodeKind::Map(entries) => Canon::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .map_or_else(|| written_of(k, text), str::to_string);
                    let at = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    (key, item_at(v, text, renames, &at))
                })
                .collect(),
        ),
        NodeKind::Seq(items) => Canon::Seq(
            items
                .iter()
                .map(|n| item_at(n, text, renames, path))
                .collect(),
        ),
        NodeKind::Str(s) if METRIC_REFS.contains(&path) => {
            Canon::Scalar(canonical_text(s, renames))
        }
        NodeKind::Str(s) => Canon::Scalar(canonical_text(s, &HashMap::new())),
        NodeKind::Int(i) => Canon::Scalar(i.to_string()),
        NodeKind::Float(f) => Canon::Scalar(format!("{f:?}")),
        NodeKind::Bool(b) => Canon::Scalar(b.to_string()),
        NodeKind::Null => Canon::Scalar("null".into()),
    };
    Item {
        canon,
        written,
        span: node.span,
    }
}

fn written_of(node: &Node, text: &str) -> String {
    text.get(node.span.start as usize..node.span.end as usize)
        .unwrap_or_default()
        .to_string()
}

/// How a value was written, on one line.
fn written(node: &Node, text: &str) -> String {
    match &node.kind {
        NodeKind::Str(s) => one_line(s),
        NodeKind::Map(entries) => format!(
            "{{ {} }}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", written(k, text), written(v, text)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        NodeKind::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|n| written(n, text))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => one_line(&written_of(node, text)),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A scalar's canonical text: the expression it parses as, printed fully
/// parenthesised, or the text itself (whitespace collapsed).
fn canonical_text(s: &str, renames: &HashMap<String, String>) -> String {
    let map = OffsetMap::identity(0, s.len());
    let origin = crate::syntax::expr::Origin {
        file: FileId(0),
        map: &map,
    };
    match crate::syntax::expr::parse_expr(s, &origin) {
        Ok(e) => {
            let mut out = String::new();
            print(&e, renames, &mut out);
            out
        }
        Err(_) => one_line(s),
    }
}

/// `e` in one canonical spelling: operators in lower case with single
/// spaces, every compound operand in parentheses, names as written.
fn print(e: &Expr, renames: &HashMap<String, String>, out: &mut String) {
    let sub = |e: &Expr, out: &mut String| {
        let simple = matches!(
            e.kind,
            ExprKind::Literal(_) | ExprKind::Column(_) | ExprKind::Call { .. }
        );
        if !simple {
            out.push('(');
        }
        print(e, renames, out);
        if !simple {
            out.push(')');
        }
    };
    let not = |negated: bool| if negated { "not " } else { "" };
    match &e.kind {
        ExprKind::Literal(l) => out.push_str(&match l {
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => format!("{f:?}"),
            Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".into(),
            Literal::Duration(d) => format!("{}ms", d.millis),
            Literal::Date(d) => format!("date '{d}'"),
            Literal::Timestamp(t) => format!("timestamp '{t}'"),
        }),
        ExprKind::Column(c) => out.push_str(renames.get(c).unwrap_or(c)),
        ExprKind::Neg(x) => {
            out.push('-');
            sub(x, out);
        }
        ExprKind::Not(x) => {
            out.push_str("not ");
            sub(x, out);
        }
        ExprKind::Binary { op, left, right } => {
            sub(left, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            sub(right, out);
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            sub(expr, out);
            out.push_str(&format!(" {}in (", not(*negated)));
            for (i, x) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(x, renames, out);
            }
            out.push(')');
        }
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => {
            sub(expr, out);
            out.push_str(&format!(" {}between ", not(*negated)));
            sub(low, out);
            out.push_str(" and ");
            sub(high, out);
        }
        ExprKind::IsNull { expr, negated } => {
            sub(expr, out);
            out.push_str(&format!(" is {}null", not(*negated)));
        }
        ExprKind::Like {
            expr,
            pattern,
            negated,
        } => {
            sub(expr, out);
            out.push_str(&format!(" {}like ", not(*negated)));
            sub(pattern, out);
        }
        ExprKind::Call { name, args, filter } => {
            out.push_str(&name.value.to_ascii_lowercase());
            out.push('(');
            match args {
                CallArgs::Star(_) => out.push('*'),
                CallArgs::Exprs(xs) => {
                    for (i, x) in xs.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        print(x, renames, out);
                    }
                }
            }
            out.push(')');
            if let Some(f) = filter {
                out.push_str(" filter (where ");
                print(f, renames, out);
                out.push(')');
            }
        }
    }
}

/// The changes between two canonical values at `path`.
fn changes(path: &str, base: &Item, head: &Item, b: &Side, h: &Side, out: &mut Vec<Change>) {
    if base == head {
        return;
    }
    let change = |path: &str, base: Option<&Item>, head: Option<&Item>| Change {
        path: path.to_string(),
        base: base.map(|i| i.written.clone()),
        head: head.map(|i| i.written.clone()),
        base_at: base.map(|i| b.loc(i.span)),
        head_at: head.map(|i| h.loc(i.span)),
    };
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (&base.canon, &head.canon) {
        (Canon::Map(x), Canon::Map(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => changes(&join(k), p, q, b, h, out),
                    (p, q) => out.push(change(&join(k), p, q)),
                }
            }
        }
        (Canon::Seq(x), Canon::Seq(y)) => {
            for (p, q) in align(x, y) {
                let label = p.or(q).map_or(String::new(), label);
                let at = format!("{path}[{label}]");
                match (p, q) {
                    (Some(p), Some(q)) => changes(&at, p, q, b, h, out),
                    (p, q) => out.push(change(&at, p, q)),
                }
            }
        }
        (x, y) if x == y => {}
        _ => out.push(change(path, Some(base), Some(head))),
    }
}

/// How an element of a list is named in a path: a step's name (`- signup:
/// ...`), otherwise the value as written.
fn label(i: &Item) -> String {
    match &i.canon {
        Canon::Map(m) if m.len() == 1 => m.keys().next().cloned().unwrap_or_default(),
        _ => i.written.clone(),
    }
}

/// Pairs the elements of two lists: equal ones by a longest common
/// subsequence, the rest in order where both sides have one between the
/// same matches (a changed element), alone otherwise (added or removed).
fn align<'a>(x: &'a [Item], y: &'a [Item]) -> Vec<(Option<&'a Item>, Option<&'a Item>)> {
    let (n, m) = (x.len(), y.len());
    // The table is n × m: past a million cells (a list of a thousand
    // tags), pair by position instead.
    if n.saturating_mul(m) > 1 << 20 {
        return (0..n.max(m)).map(|i| (x.get(i), y.get(i))).collect();
    }
    let mut l = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if x[i] == y[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut gap_x = Vec::new();
    let mut gap_y = Vec::new();
    let flush = |gx: &mut Vec<&'a Item>, gy: &mut Vec<&'a Item>, out: &mut Vec<_>| {
        let k = gx.len().max(gy.len());
        for t in 0..k {
            out.push((gx.get(t).copied(), gy.get(t).copied()));
        }
        gx.clear();
        gy.clear();
    };
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            flush(&mut gap_x, &mut gap_y, &mut out);
            out.push((Some(&x[i]), Some(&y[j])));
            i += 1;
            j += 1;
        } else if j >= m || (i < n && l[i + 1][j] >= l[i][j + 1]) {
            gap_x.push(&x[i]);
            i += 1;
        } else {
            gap_y.push(&y[j]);
            j += 1;
        }
    }
    flush(&mut gap_x, &mut gap_y, &mut out);
    out
}

/// `item` without its documentation keys (for maps).
fn without_docs(item: &Item) -> Item {
    let mut out = item.clone();
    if let Canon::Map(m) = &mut out.canon {
        m.retain(|k, _| !DOC_KEYS.contains(&k.as_str()));
    }
    out
}

fn docs_only(item: &Item) -> Item {
    let mut out = item.clone();
    if let Canon::Map(m) = &mut out.canon {
        m.retain(|k, _| DOC_KEYS.contains(&k.as_str()));
    }
    out
}

/// Project settings whose change moves every metric's numbers.
const PROJECT_KEYS: &[&str] = &["time_zone", "week_start"];

/// The difference from no project at all to `head` (a pull request that
/// adds the project): every source and metric added.
pub fn all_added(head: (&Checked, &Model)) -> DefDiff {
    let h = Side::new(head.0, head.1);
    let added = |name: &str, at: Option<Loc>| Entry {
        name: name.to_string(),
        status: Status::Added,
        changes: Vec::new(),
        base_at: None,
        head_at: at,
    };
    DefDiff {
        project: Vec::new(),
        sources: head
            .1
            .sources
            .iter()
            .map(|s| added(&s.name, h.source_at(&s.name)))
            .collect(),
        metrics: head
            .1
            .metrics
            .iter()
            .map(|m| added(&m.name, h.metric_at(&m.name)))
            .collect(),
    }
}

/// Compares two checked versions' definitions.
pub fn compare(base: (&Checked, &Model), head: (&Checked, &Model)) -> DefDiff {
    let b = Side::new(base.0, base.1);
    let h = Side::new(head.0, head.1);
    let mut diff = DefDiff::default();

    // Project settings that change numbers.
    if let (Some(p), Some(q)) = (&b.project, &h.project) {
        let pick = |i: &Item| {
            let mut i = i.clone();
            if let Canon::Map(m) = &mut i.canon {
                m.retain(|k, _| PROJECT_KEYS.contains(&k.as_str()));
            }
            i
        };
        let (p, q) = (pick(p), pick(q));
        // An unset setting and its default written out are one meaning.
        let (bp, hp) = (&base.1.project, &head.1.project);
        if bp.time_zone != hp.time_zone || bp.week_start != hp.week_start {
            changes("", &p, &q, &b, &h, &mut diff.project);
        }
    }

    // Sources, and the entities whose attributes they have.
    let changed_entities = changed_entities(base.1, head.1);
    let mut changed_sources = BTreeSet::new();
    let source_names: BTreeSet<&String> = b.sources.keys().chain(h.sources.keys()).collect();
    for name in source_names {
        let entry = match (b.sources.get(name), h.sources.get(name)) {
            (Some(p), Some(q)) => {
                let mut c = Vec::new();
                changes("", p, q, &b, &h, &mut c);
                if c.is_empty() {
                    continue;
                }
                let meaning_changed = match (b.model.source(name), h.model.source(name)) {
                    (Some(x), Some(y)) => !same_source(x, y),
                    _ => true,
                };
                let status = if without_docs(p) == without_docs(q) {
                    Status::Documentation
                } else if meaning_changed {
                    changed_sources.insert(name.clone());
                    Status::Changed
                } else {
                    Status::SameMeaning
                };
                Entry {
                    name: name.clone(),
                    status,
                    changes: c,
                    base_at: b.source_at(name),
                    head_at: h.source_at(name),
                }
            }
            (Some(_), None) => Entry {
                name: name.clone(),
                status: Status::Removed,
                changes: Vec::new(),
                base_at: b.source_at(name),
                head_at: None,
            },
            (None, Some(_)) => Entry {
                name: name.clone(),
                status: Status::Added,
                changes: Vec::new(),
                base_at: None,
                head_at: h.source_at(name),
            },
            (None, None) => continue,
        };
        diff.sources.push(entry);
    }

    // Renames: a metric only in the base whose definition (documentation
    // aside) and meaning equal those of a metric only in the head.
    let only_base: Vec<&String> = b
        .model
        .metrics
        .iter()
        .map(|m| &m.name)
        .filter(|n| h.model.metric(n).is_none())
        .collect();
    let only_head: Vec<&String> = h
        .model
        .metrics
        .iter()
        .map(|m| &m.name)
        .filter(|n| b.model.metric(n).is_none())
        .collect();
    // Found until none is left: a metric over a renamed metric (a ratio
    // whose numerator was renamed too) matches once that rename is known.
    let mut renames: HashMap<String, String> = HashMap::new();
    loop {
        let mut found_one = false;
        for old in &only_base {
            if renames.contains_key(*old) {
                continue;
            }
            let written = if renames.is_empty() {
                b.metrics.get(*old).cloned()
            } else {
                b.metric_renamed(old, &renames)
            };
            let Some(p) = written else {
                continue;
            };
            let taken = |n: &String| renames.values().any(|v| v == n);
            let found = only_head.iter().find(|new| {
                !taken(new)
                    && h.metrics
                        .get(**new)
                        .is_some_and(|q| without_docs(&p) == without_docs(q))
            });
            if let Some(new) = found {
                renames.insert((*old).clone(), (*new).clone());
                found_one = true;
            }
        }
        if !found_one {
            break;
        }
    }
    // Base definitions read again with the new names in place of the old.
    let base_item = |name: &str| -> Option<Item> {
        if renames.is_empty() {
            b.metrics.get(name).cloned()
        } else {
            b.metric_renamed(name, &renames)
                .or_else(|| b.metrics.get(name).cloned())
        }
    };

    for m in &h.model.metrics {
        let name = &m.name;
        let old = renames
            .iter()
            .find(|(_, new)| *new == name)
            .map(|(old, _)| old.clone());
        let base_name = old.clone().unwrap_or_else(|| name.clone());
        let (Some(p), Some(q)) = (base_item(&base_name), h.metrics.get(name)) else {
            if b.model.metric(name).is_none() && old.is_none() {
                diff.metrics.push(Entry {
                    name: name.clone(),
                    status: Status::Added,
                    changes: Vec::new(),
                    base_at: None,
                    head_at: h.metric_at(name),
                });
            }
            continue;
        };
        let mut c = Vec::new();
        changes("", &without_docs(&p), &without_docs(q), &b, &h, &mut c);
        let meaning_changed = !c.is_empty() && b.meaning(&base_name) != h.meaning(name);
        let mut docs = Vec::new();
        changes("", &docs_only(&p), &docs_only(q), &b, &h, &mut docs);
        let status = match (&old, meaning_changed) {
            (Some(from), _) => Status::Renamed {
                from: from.clone(),
                because: None,
            },
            (None, true) => Status::Changed,
            (None, false) if !c.is_empty() => Status::SameMeaning,
            (None, false) if !docs.is_empty() => Status::Documentation,
            (None, false) => continue,
        };
        c.extend(docs);
        diff.metrics.push(Entry {
            name: name.clone(),
            status,
            changes: c,
            base_at: b.metric_at(&base_name),
            head_at: h.metric_at(name),
        });
    }
    for m in &b.model.metrics {
        if h.model.metric(&m.name).is_none() && !renames.contains_key(&m.name) {
            diff.metrics.push(Entry {
                name: m.name.clone(),
                status: Status::Removed,
                changes: Vec::new(),
                base_at: b.metric_at(&m.name),
                head_at: None,
            });
        }
    }

    // Affected: by the project's settings, by a changed source, or by a
    // changed metric they use, found breadth first so the path is short.
    let listed: BTreeSet<String> = diff
        .metrics
        .iter()
        .filter(|e| e.status.computes())
        .map(|e| e.name.clone())
        .collect();
    let mut because: HashMap<String, Vec<String>> = HashMap::new();
    let mut queue = VecDeque::new();
    for m in &h.model.metrics {
        if listed.contains(&m.name) {
            because.insert(m.name.clone(), vec![m.name.clone()]);
            queue.push_back(m.name.clone());
        }
    }
    for m in &h.model.metrics {
        if because.contains_key(&m.name) {
            continue;
        }
        let why = if !diff.project.is_empty() {
            Some(format!(
                "project {}",
                diff.project
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            m.sources
                .iter()
                .find(|s| changed_sources.contains(*s))
                .map(|s| format!("source {s}"))
                .or_else(|| {
                    m.sources.iter().find_map(|s| {
                        let e = h.model.source(s)?.linked.as_ref()?;
                        changed_entities.contains(e).then(|| format!("entity {e}"))
                    })
                })
        };
        if let Some(why) = why {
            because.insert(m.name.clone(), vec![why, m.name.clone()]);
            queue.push_back(m.name.clone());
        }
    }
    // Breadth first over "is used by".
    while let Some(n) = queue.pop_front() {
        let path = because[&n].clone();
        for m in &h.model.metrics {
            if because.contains_key(&m.name) || !m.depends_on.iter().any(|d| d.value == n) {
                continue;
            }
            let mut p = path.clone();
            p.push(m.name.clone());
            because.insert(m.name.clone(), p);
            queue.push_back(m.name.clone());
        }
    }
    for m in &h.model.metrics {
        if listed.contains(&m.name) {
            continue;
        }
        let Some(path) = because.get(&m.name) else {
            continue;
        };
        match diff.metrics.iter_mut().find(|e| e.name == m.name) {
            Some(Entry {
                status: Status::Renamed { because, .. },
                ..
            }) => *because = Some(path.clone()),
            // Written differently, same meaning, but what it uses changed.
            Some(e) => {
                e.status = Status::Affected {
                    because: path.clone(),
                }
            }
            None => diff.metrics.push(Entry {
                name: m.name.clone(),
                status: Status::Affected {
                    because: path.clone(),
                },
                changes: Vec::new(),
                base_at: b.metric_at(&m.name),
                head_at: h.metric_at(&m.name),
            }),
        }
    }
    // Head definition order, removed metrics last.
    let order: HashMap<&str, usize> = h
        .model
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    diff.metrics
        .sort_by_key(|e| order.get(e.name.as_str()).copied().unwrap_or(usize::MAX));
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical_text(s, &HashMap::new())
    }

    #[test]
    fn expressions_written_differently_are_one() {
        assert_eq!(canon("status<400"), canon("status  <  400"));
        assert_eq!(canon("COUNT_DISTINCT( x )"), canon("count_distinct(x)"));
        assert_eq!(
            canon("a = 1 and b = 2 or c"),
            canon("((a = 1) and (b = 2)) or c")
        );
        assert_eq!(canon("7d"), canon("168h"));
        assert_eq!(canon("event = 'it''s'"), canon("event='it''s'"));
        // Different meanings stay different.
        assert_ne!(
            canon("a = 1 and (b = 2 or c)"),
            canon("a = 1 and b = 2 or c")
        );
        assert_ne!(canon("event = 'Signup'"), canon("event = 'signup'"));
        assert_ne!(canon("x < 400"), canon("x <= 400"));
        assert_ne!(canon("7d"), canon("8d"));
    }

    #[test]
    fn names_follow_renames() {
        let renames = HashMap::from([("signups".to_string(), "new_signups".to_string())]);
        assert_eq!(
            canonical_text("1000 * signups / visitors", &renames),
            canon("1000 * new_signups / visitors")
        );
    }

    #[test]
    fn lists_pair_equal_elements_and_report_the_rest() {
        let items = |xs: &[&str]| -> Vec<Item> {
            xs.iter()
                .map(|x| Item {
                    canon: Canon::Scalar(x.to_string()),
                    written: x.to_string(),
                    span: Span::default(),
                })
                .collect()
        };
        let (x, y) = (
            items(&["a", "b", "c", "d"]),
            items(&["a", "x", "c", "d", "e"]),
        );
        let pairs: Vec<(Option<&str>, Option<&str>)> = align(&x, &y)
            .into_iter()
            .map(|(p, q)| (p.map(|i| i.written.as_str()), q.map(|i| i.written.as_str())))
            .collect();
        assert_eq!(
            pairs,
            [
                (Some("a"), Some("a")),
                (Some("b"), Some("x")),
                (Some("c"), Some("c")),
                (Some("d"), Some("d")),
                (None, Some("e")),
            ]
        );
        // An element inserted at the front is one insertion.
        let (x, y) = (items(&["a", "b"]), items(&["z", "a", "b"]));
        assert_eq!(
            align(&x, &y)
                .iter()
                .filter(|(p, q)| p.is_none() != q.is_none())
                .count(),
            1
        );
    }
}
