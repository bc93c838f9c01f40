//! Runs the front-end stages in order: read the project, parse every file, read
//! source schemas from Parquet footers, resolve. Used by `check`, and by every
//! later command before it plans anything.

use crate::catalog;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::fence::{Fence, escape};
use crate::semantic::{self, Schemas, model::Model};
use crate::source::{ReadError, SourceSet, display_name};
use crate::span::FileId;
use crate::syntax::{self, FileRole, ast::Ast};
use std::path::{Path, PathBuf};

/// The name of the project file in a project directory.
pub const PROJECT_FILE: &str = "metricc.yaml";

/// Everything the front end produced: the files (for rendering), the
/// diagnostics, and the model when there was no error.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceSet,
    pub diagnostics: Diagnostics,
    pub ast: Ast,
    pub model: Option<Model>,
    /// The project directory.
    pub dir: PathBuf,
    /// Each source's schema (`None` when its files could not be read).
    pub schemas: Schemas,
    /// Where the project's files may read.
    pub fence: Fence,
}

impl Checked {
    /// What checking a project without a project file gives: its problems.
    fn without_project(
        dir: PathBuf,
        fence: Fence,
        sources: SourceSet,
        diagnostics: Diagnostics,
    ) -> Checked {
        Checked {
            sources,
            diagnostics,
            ast: Ast::default(),
            model: None,
            dir,
            schemas: Schemas::new(),
            fence,
        }
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// Checks the project at `path`: a project directory or its `metricc.yaml`.
/// Nothing outside the project directory is read.
pub fn check(path: &Path) -> Checked {
    check_allowing(path, &[])
}

/// [`check`], where paths in the project may also lead below the `allowed`
/// directories (the user's `--allow-read`).
pub fn check_allowing(path: &Path, allowed: &[PathBuf]) -> Checked {
    let (dir, project_file) = if path.is_dir() || !path.exists() {
        (path.to_path_buf(), path.join(PROJECT_FILE))
    } else {
        (
            path.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            path.to_path_buf(),
        )
    };
    let fence = Fence::new(&dir, allowed);
    let mut sources = SourceSet::new();
    let mut diags = Vec::new();
    let mut ast = Ast::default();
    if !project_file.is_file() {
        diags.push(
            Diagnostic::new(Code::ProjectFileMissing, format!("no `{PROJECT_FILE}` in `{}`", dir.display()))
                .with_help("run metricc in a project directory, or pass its path: `metricc check path/to/project`"),
        );
        return Checked::without_project(dir, fence, sources, diags);
    }
    if let Some(id) = read(&mut sources, &project_file, &mut diags) {
        syntax::parse_file(id, sources.get(id), FileRole::Project, &mut ast, &mut diags);
    }
    let files = definition_files(&fence, &dir, &project_file, &ast, &mut diags);
    let ids: Vec<FileId> = files
        .iter()
        .filter_map(|f| read(&mut sources, f, &mut diags))
        .collect();
    finish(dir, fence, sources, ids, ast, diags)
}

/// A project's files held in memory, as a git revision has them: read in
/// place of the files on disk, while data paths still resolve on disk
/// against the project directory. `metricc diff` checks the base (and a
/// committed head) this way, without checking anything out.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// What the files are, prefixed to their names in messages (`HEAD~1`).
    pub label: String,
    /// The project's YAML files by path relative to the project directory.
    pub files: std::collections::BTreeMap<PathBuf, Vec<u8>>,
}

impl Snapshot {
    /// The name a snapshot file is shown under: `HEAD~1:metrics/x.yaml`.
    pub fn name(&self, rel: &Path) -> String {
        format!("{}:{}", self.label, rel.display())
    }

    /// The definition files `patterns` select (every definition file when
    /// there are none), by the rules [`definition_files`] applies on disk:
    /// no hidden directory, `data/` or `target/` in a walk; globs relative
    /// to the project directory and held to the fence.
    fn definition_files(
        &self,
        fence: &Fence,
        dir: &Path,
        patterns: &[crate::syntax::ast::Name],
        diags: &mut Diagnostics,
    ) -> Vec<PathBuf> {
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let candidates = self
            .files
            .keys()
            .filter(|p| p.as_path() != Path::new(PROJECT_FILE))
            .filter(|p| crate::source::is_definition_file(&name_of(p)));
        if patterns.is_empty() {
            // The walk's rules: no hidden file or directory, and no
            // directory named `data` or `target` at any depth.
            return candidates
                .filter(|p| {
                    let parts: Vec<String> = p
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    let dirs = &parts[..parts.len().saturating_sub(1)];
                    !parts.iter().any(|c| c.starts_with('.'))
                        && !dirs.iter().any(|d| d == "data" || d == "target")
                })
                .cloned()
                .collect();
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut out = Vec::new();
        for f in patterns {
            if let Err(why) = fence.written(dir, &f.value) {
                diags.push(
                    Diagnostic::new(
                        Code::PathOutsideProject,
                        "definition files outside the project",
                    )
                    .at(f.span, why)
                    .with_help(fence.help()),
                );
                continue;
            }
            let text = crate::fence::normalize(Path::new(&f.value))
                .to_string_lossy()
                .into_owned();
            let matched: Vec<&PathBuf> = if crate::fence::is_glob(&text) {
                match glob::Pattern::new(&text) {
                    Ok(pattern) => candidates
                        .clone()
                        .filter(|p| pattern.matches_path_with(p, options))
                        .collect(),
                    Err(e) => {
                        diags.push(
                            Diagnostic::new(Code::InvalidValue, "invalid file pattern")
                                .at(f.span, e.msg)
                                .with_help("use a glob such as `metrics/*.yaml`"),
                        );
                        continue;
                    }
                }
            } else {
                candidates
                    .clone()
                    .filter(|p| p.as_path() == Path::new(&text))
                    .collect()
            };
            if matched.is_empty() {
                diags.push(
                    Diagnostic::new(
                        Code::FileUnreadable,
                        format!("`{}` matches no definition file", escape(&f.value)),
                    )
                    .at(
                        f.span,
                        format!("no file of {} matches this pattern", self.label),
                    )
                    .with_help("patterns are relative to the project directory"),
                );
            }
            out.extend(matched.into_iter().cloned());
        }
        out.sort();
        out.dedup();
        out
    }

    /// Adds file `rel` to `sources`; reports why it cannot be read.
    fn read(
        &self,
        sources: &mut SourceSet,
        dir: &Path,
        rel: &Path,
        diags: &mut Diagnostics,
    ) -> Option<FileId> {
        let bytes = self.files.get(rel)?;
        let name = self.name(rel);
        let problem = if bytes.len() as u64 > crate::source::MAX_FILE_BYTES {
            Diagnostic::new(
                Code::FileTooLarge,
                format!("`{}` is too large ({} bytes)", escape(&name), bytes.len()),
            )
            .with_help(format!(
                "definition files may be at most {} bytes; split it",
                crate::source::MAX_FILE_BYTES
            ))
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => return Some(sources.add(name, dir.join(rel), text.to_string())),
                Err(e) => Diagnostic::new(
                    Code::FileNotUtf8,
                    format!("`{}` is not UTF-8 text", escape(&name)),
                )
                .with_help(format!(
                    "the first invalid byte is at offset {}; save the file as UTF-8",
                    e.valid_up_to()
                )),
            }
        };
        sources.add(name, dir.join(rel), String::new());
        diags.push(problem);
        None
    }
}

/// Checks the project whose files `snapshot` holds, with its data read
/// below `dir` (the project directory on disk) as [`check_allowing`] would.
pub fn check_snapshot(snapshot: &Snapshot, dir: &Path, allowed: &[PathBuf]) -> Checked {
    let dir = dir.to_path_buf();
    let fence = Fence::new(&dir, allowed);
    let mut sources = SourceSet::new();
    let mut diags = Vec::new();
    let mut ast = Ast::default();
    let project = Path::new(PROJECT_FILE);
    if !snapshot.files.contains_key(project) {
        diags.push(
            Diagnostic::new(
                Code::ProjectFileMissing,
                format!("no `{PROJECT_FILE}` in the project at {}", snapshot.label),
            )
            .with_help("name a revision or directory that holds the project"),
        );
    } else if let Some(id) = snapshot.read(&mut sources, &dir, project, &mut diags) {
        syntax::parse_file(id, sources.get(id), FileRole::Project, &mut ast, &mut diags);
    }
    if diags.iter().any(|d| d.code == Code::ProjectFileMissing) {
        return Checked::without_project(dir, fence, sources, diags);
    }
    let files = snapshot.definition_files(&fence, &dir, &ast.project.files, &mut diags);
    let ids: Vec<FileId> = files
        .iter()
        .filter_map(|rel| snapshot.read(&mut sources, &dir, rel, &mut diags))
        .collect();
    finish(dir, fence, sources, ids, ast, diags)
}

/// The stages after reading: parse the definition files `ids`, read the
/// sources' footers, resolve.
fn finish(
    dir: PathBuf,
    fence: Fence,
    sources: SourceSet,
    ids: Vec<FileId>,
    mut ast: Ast,
    mut diags: Diagnostics,
) -> Checked {
    for (part, part_diags) in parse_definitions(&sources, &ids) {
        ast.sources.extend(part.sources);
        ast.entities.extend(part.entities);
        ast.metrics.extend(part.metrics);
        diags.extend(part_diags);
    }
    let mut schemas = Schemas::new();
    for s in &ast.sources {
        if schemas.contains_key(&s.name.value) {
            continue;
        }
        let schema = match catalog::load(&fence, &dir, s) {
            Ok(schema) => {
                diags.extend(nulls_unknown(s, &schema));
                Some(schema)
            }
            Err(d) => {
                diags.push(d);
                None
            }
        };
        schemas.insert(s.name.value.clone(), schema);
    }
    load_entities(&fence, &dir, &ast.entities, &mut schemas, &mut diags);
    let model = semantic::resolve(&ast, &dir, &schemas, &mut diags);
    Checked {
        sources,
        diagnostics: diags,
        ast,
        model,
        dir,
        schemas,
        fence,
    }
}

/// Reads the project's test files (`*.test.yaml`) as `metricc test` would
/// and adds what is wrong with their shape to `checked`'s diagnostics: a
/// pull request that breaks a test file fails `check`, not only `test`.
/// Problems a test expects (inside its `define:` under `expect_error:`)
/// are not problems. Returns how many test files were read.
pub fn check_tests(checked: &mut Checked) -> usize {
    let fence = checked.fence.clone();
    let dir = checked.dir.clone();
    let mut diags = Vec::new();
    let cases = crate::testing::load(&fence, &dir, &mut checked.sources, &mut diags);
    for (_, case) in &cases {
        let expected = |d: &Diagnostic| {
            case.expect_error.is_some()
                && case.define_span.is_some_and(|define| {
                    d.span.is_some_and(|s| {
                        s.file == define.file && s.start >= define.start && s.end <= define.end
                    })
                })
        };
        diags.extend(case.problems.iter().filter(|d| !expected(d)).cloned());
    }
    checked.diagnostics.extend(diags);
    let mut files: Vec<FileId> = cases.iter().map(|(id, _)| *id).collect();
    files.dedup();
    files.len()
}

/// Checks the project again with `extra` definitions added (a test's
/// `define:`): the model, and every diagnostic of the combined project.
pub fn check_with(checked: &Checked, extra: &Ast) -> (Option<Model>, Diagnostics) {
    let mut ast = checked.ast.clone();
    ast.sources.extend(extra.sources.iter().cloned());
    ast.entities.extend(extra.entities.iter().cloned());
    ast.metrics.extend(extra.metrics.iter().cloned());
    let mut diags = Vec::new();
    let mut schemas = checked.schemas.clone();
    for s in &extra.sources {
        if schemas.contains_key(&s.name.value) {
            continue;
        }
        let schema = match catalog::load(&checked.fence, &checked.dir, s) {
            Ok(schema) => Some(schema),
            Err(d) => {
                diags.push(d);
                None
            }
        };
        schemas.insert(s.name.value.clone(), schema);
    }
    load_entities(
        &checked.fence,
        &checked.dir,
        &extra.entities,
        &mut schemas,
        &mut diags,
    );
    let model = semantic::resolve(&ast, &checked.dir, &schemas, &mut diags);
    (model, diags)
}

/// Reads the footers of each entity's attribute table not read yet into
/// `schemas`, under [`semantic::entity_table`]'s key.
fn load_entities(
    fence: &Fence,
    dir: &Path,
    entities: &[crate::syntax::ast::EntityDef],
    schemas: &mut Schemas,
    diags: &mut Diagnostics,
) {
    for e in entities {
        let key = semantic::entity_table(&e.name.value);
        if schemas.contains_key(&key) {
            continue;
        }
        let schema = match catalog::load_entity(fence, dir, e) {
            Ok(schema) => Some(schema),
            Err(d) => {
                diags.push(d);
                None
            }
        };
        schemas.insert(key, schema);
    }
}

/// W0004 for each time or entity column of `source` whose nulls its files'
/// footers cannot rule out.
fn nulls_unknown(
    source: &crate::syntax::ast::SourceDef,
    schema: &crate::semantic::types::SourceSchema,
) -> Vec<Diagnostic> {
    let keys =
        std::iter::once((&source.time, "time")).chain(source.entity.iter().map(|e| (e, "entity")));
    keys.filter(|(k, _)| schema.unverified.contains(&k.value))
        .map(|(k, role)| {
            Diagnostic::new(
                Code::NullsUnknown,
                format!(
                    "the files of source `{}` do not say whether `{}` has nulls",
                    source.name.value, k.value
                ),
            )
            .at(k.span, "no null count in a file's statistics")
            .with_help(format!(
                "rows without a {role} are not events and every metric leaves them out; \
                 write the files with statistics to have them checked (E0222)"
            ))
        })
        .collect()
}

/// Parses definition files on all cores; results come back in file order.
fn parse_definitions(sources: &SourceSet, ids: &[FileId]) -> Vec<(Ast, Diagnostics)> {
    let parse = |id: &FileId| {
        let mut part = Ast::default();
        let mut diags = Vec::new();
        syntax::parse_file(
            *id,
            sources.get(*id),
            FileRole::Definitions,
            &mut part,
            &mut diags,
        );
        (part, diags)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ids.len());
    if threads <= 1 {
        return ids.iter().map(parse).collect();
    }
    let chunk = ids.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(parse).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("parsing does not panic"))
            .collect()
    })
}

/// Reads a file into `sources`; reports why it cannot be read.
fn read(sources: &mut SourceSet, path: &Path, diags: &mut Diagnostics) -> Option<FileId> {
    let (id, read) = sources.read(path);
    let name = sources.get(id).name.clone();
    let problem = match read {
        Ok(()) => return Some(id),
        Err(ReadError::Io(e)) => {
            Diagnostic::new(Code::FileUnreadable, format!("cannot read `{name}`: {e}"))
                .with_help("check that the file exists and is readable")
        }
        Err(ReadError::TooLarge(n)) => Diagnostic::new(
            Code::FileTooLarge,
            format!("`{name}` is too large ({n} bytes)"),
        )
        .with_help(format!(
            "definition files may be at most {} bytes; split it",
            crate::source::MAX_FILE_BYTES
        )),
        Err(ReadError::NotUtf8(at)) => {
            Diagnostic::new(Code::FileNotUtf8, format!("`{name}` is not UTF-8 text")).with_help(
                format!("the first invalid byte is at offset {at}; save the file as UTF-8"),
            )
        }
    };
    diags.push(problem);
    None
}

/// Definition files: the project's `files` globs, or every definition file
/// below the project directory as [`crate::source::walk`] finds them (test
/// files and the project file left out). Every file is held to `fence`.
fn definition_files(
    fence: &Fence,
    dir: &Path,
    project_file: &Path,
    ast: &Ast,
    diags: &mut Diagnostics,
) -> Vec<PathBuf> {
    let project_canon = project_file.canonicalize().ok();
    let is_project = |p: &Path| p.canonicalize().ok() == project_canon;
    // A found file must lead into the fence once its links are followed.
    let fenced =
        |p: &Path, span: Option<crate::span::Span>, diags: &mut Diagnostics| match fence.found(p) {
            Ok(()) => true,
            Err(why) => {
                let d = match span {
                    Some(span) => Diagnostic::new(
                        Code::PathOutsideProject,
                        format!(
                            "definition file `{}` is outside the project",
                            escape(&display_name(p))
                        ),
                    )
                    .at(span, why),
                    None => Diagnostic::new(Code::PathOutsideProject, why),
                }
                .with_help(fence.help());
                diags.push(d);
                false
            }
        };
    if ast.project.files.is_empty() {
        let mut out = match crate::source::walk(dir, &crate::source::is_definition_file) {
            Ok(found) => found,
            Err(_) => {
                diags.push(
                    Diagnostic::new(
                        Code::FileUnreadable,
                        format!(
                            "the project directory holds more than {} entries",
                            crate::fence::MAX_WALK_ENTRIES
                        ),
                    )
                    .with_help("list the definition files with `files:` in the project file"),
                );
                return Vec::new();
            }
        };
        out.retain(|p| !is_project(p) && fenced(p, None, diags));
        return out;
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for f in &ast.project.files {
        let (pattern, span) = (&f.value, f.span);
        if let Err(why) = fence.written(dir, pattern) {
            diags.push(
                Diagnostic::new(
                    Code::PathOutsideProject,
                    "definition files outside the project",
                )
                .at(span, why)
                .with_help(fence.help()),
            );
            continue;
        }
        let matched: Vec<PathBuf> = if crate::fence::is_glob(pattern) {
            match crate::fence::glob(dir, pattern) {
                Ok(paths) => paths.into_iter().filter(|p| p.is_file()).collect(),
                Err(e) => {
                    diags.push(
                        Diagnostic::new(Code::InvalidValue, "invalid file pattern")
                            .at(span, e)
                            .with_help("use a glob such as `metrics/*.yaml`"),
                    );
                    continue;
                }
            }
        } else {
            let p = dir.join(pattern);
            if p.is_file() { vec![p] } else { Vec::new() }
        };
        let reported = diags.len();
        let mut kept = Vec::new();
        for p in matched {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if is_project(&p) || crate::source::is_test_file(&name) {
                continue;
            }
            if !crate::source::is_definition_file(&name) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("`{}` is not a definition file", escape(&display_name(&p))),
                    )
                    .at(span, "this pattern matches a file that is not `.yaml` or `.yml`")
                    .with_help("definition files end in `.yaml` or `.yml`; narrow the pattern, e.g. `metrics/*.yaml`"),
                );
                continue;
            }
            if fenced(&p, Some(span), diags) {
                kept.push(p);
            }
        }
        // "Matches nothing" only when no match was refused above.
        if kept.is_empty() && diags.len() == reported {
            diags.push(
                Diagnostic::new(
                    Code::FileUnreadable,
                    format!("`{}` matches no definition file", escape(pattern)),
                )
                .at(span, "no file matches this pattern")
                .with_help(format!("patterns are relative to `{}`", dir.display())),
            );
        }
        out.extend(kept);
    }
    out.sort();
    out.dedup();
    out
}
