//! Where metricc may read: the project directory, and the directories the
//! user named with `--allow-read`. Metric files come from pull requests, so
//! every path a file names (the project's `files`, a source's `path`, a test
//! fixture's `csv`, a test's `define:`) is held to this fence twice: as
//! written (no absolute path, no `..` out of the project, no hidden
//! directory such as `.git/`), and as found on disk (after following links).
//! Directory walks never follow linked directories, so they cannot loop and
//! cannot leave the tree.
//!
//! The opt-in is a command-line flag and not a project setting on purpose:
//! the project file comes with the pull request, the command line with the
//! CI job that runs it (docs/RUNNING.md, "Untrusted pull requests").

use std::path::{Component, Path, PathBuf};

/// Most entries one walk may visit before it gives up: a walk that meets
/// more is over a tree no project has (a mount of a whole disk, say).
pub const MAX_WALK_ENTRIES: usize = 1_000_000;

/// Why a path is refused.
enum Refusal {
    Outside,
    /// In the project's hidden directory of this (escaped) name.
    Hidden(String),
}

/// The directories metricc may read below.
#[derive(Debug, Clone)]
pub struct Fence {
    /// The project directory, with links resolved.
    project: PathBuf,
    /// Directories the user allowed beside it, with links resolved.
    allowed: Vec<PathBuf>,
    /// Prefixes on object storage the user allowed (`s3://bucket/prefix`),
    /// without a trailing `/`.
    remote: Vec<String>,
}

impl Fence {
    /// The fence of the project at `project_dir`, widened by `allowed`
    /// (directories named by the user on the command line).
    pub fn new(project_dir: &Path, allowed: &[PathBuf]) -> Fence {
        let (remote, local): (Vec<&PathBuf>, Vec<&PathBuf>) = allowed
            .iter()
            .partition(|d| crate::storage::remote(d).is_some());
        Fence {
            project: real(project_dir),
            allowed: local.into_iter().map(|d| real(d)).collect(),
            remote: remote
                .into_iter()
                .filter_map(|d| crate::storage::remote(d))
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
        }
    }

    /// Checks a URL on object storage: the user must have allowed it, or a
    /// prefix of it, with `--allow-read`. `Err` says why, for a label.
    pub fn remote(&self, url: &str) -> Result<(), String> {
        // A URL parser removes `.` and `..` segments (`s3://b/allowed/../x`
        // is `s3://b/x`), so they would lead out of an allowed prefix.
        let dots = url.split('/').skip(3).any(|segment| {
            let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
            decoded == "." || decoded == ".."
        });
        if dots {
            return Err(format!(
                "`{}` has a `.` or `..` segment, which object storage paths may not have",
                escape(url)
            ));
        }
        let allowed = self.remote.iter().any(|p| {
            url.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "`{}` is on object storage, which the command line has not allowed",
                escape(url)
            ))
        }
    }

    /// The help line of a refused URL on object storage.
    pub fn remote_help(&self, url: &str) -> String {
        let bucket = url
            .split_once("://")
            .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)))
            .unwrap_or_else(|| url.to_string());
        format!(
            "metricc reads object storage only where the command line allows it: pass \
             `--allow-read {}` (or a narrower prefix); credentials come from the environment \
             (docs/DISTRIBUTED.md, \"Sources on object storage\")",
            escape(&bucket)
        )
    }

    /// Where an absolute path without `.` or `..` lies: below an allowed
    /// directory (fine), outside the project, or in a hidden directory of
    /// the project (its name).
    fn place(&self, path: &Path) -> Result<(), Refusal> {
        if self.allowed.iter().any(|a| path.starts_with(a)) {
            return Ok(());
        }
        if !path.starts_with(&self.project) {
            return Err(Refusal::Outside);
        }
        match hidden_component(path, &self.project) {
            Some(hidden) => Err(Refusal::Hidden(escape(&hidden))),
            None => Ok(()),
        }
    }

    /// Checks a path as it is written in a file, relative to `base` (the
    /// project directory, or a test file's directory). `Err` says why it is
    /// refused, in words that fit a diagnostic's label.
    pub fn written(&self, base: &Path, written: &str) -> Result<(), String> {
        let shown = escape(written);
        self.place(&normalize(&real(base).join(written)))
            .map_err(|r| match r {
                Refusal::Outside if Path::new(written).is_absolute() => {
                    format!("`{shown}` is an absolute path")
                }
                Refusal::Outside => {
                    format!("`{shown}` is a path that leaves the project directory")
                }
                Refusal::Hidden(h) => format!("`{shown}` is inside the hidden directory `{h}`"),
            })
    }

    /// Checks a file found on disk: once its links are followed, it must
    /// still be inside the project (and not in a hidden directory) or below
    /// an allowed directory.
    pub fn found(&self, file: &Path) -> Result<(), String> {
        let target = file.canonicalize().map_err(|e| {
            format!(
                "`{}` cannot be resolved: {e}",
                escape(&file.to_string_lossy())
            )
        })?;
        let shown = escape(&display_name(file));
        self.place(&target).map_err(|r| match r {
            Refusal::Outside => format!("`{shown}` is a link to a file outside the project"),
            Refusal::Hidden(h) => format!("`{shown}` is a link into the hidden directory `{h}`"),
        })
    }

    /// The help line of a refusal.
    pub fn help(&self) -> String {
        format!(
            "paths must stay inside the project directory `{}`; to read data elsewhere, \
             pass `--allow-read DIR` on the command line (docs/RUNNING.md, \"Untrusted pull requests\")",
            match display_name(&self.project) {
                shown if shown.is_empty() => ".".to_string(),
                shown => escape(&shown),
            }
        )
    }
}

/// A path as the user should see it: relative to the current directory if below it.
pub fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .as_deref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    let s = shown.to_string_lossy().into_owned();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// `path` with links resolved when it exists, else made absolute as written.
fn real(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        normalize(&abs)
    })
}

/// `path` with `.` and `..` removed by their text alone (no link is
/// followed; a link in the middle is checked later, by [`Fence::found`]).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The first component of `path` below `root` whose name starts with a dot.
fn hidden_component(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    rel.components().find_map(|c| match c {
        Component::Normal(n) if n.to_string_lossy().starts_with('.') => {
            Some(n.to_string_lossy().into_owned())
        }
        _ => None,
    })
}

/// User text made safe for a terminal: control characters (escape
/// sequences, carriage returns, bells) are written as `\u{..}`; newlines and
/// tabs are kept.
pub fn escape(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Appends `c` to `out`, as `\u{..}` when it is unsafe for a terminal.
pub fn push_escaped(out: &mut String, c: char) {
    if is_unsafe(c) {
        out.push_str(&format!("\\u{{{:x}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// Control characters other than newline and tab, and the bidirectional
/// overrides that make text read differently from what it is.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Why a walk stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct TooManyEntries;

/// The files below `dir` that `keep` takes, in path order. Directories are
/// entered when `enter` takes their name; linked directories are never
/// entered, so a walk cannot loop or leave the tree. A linked file is
/// offered to `keep` like any file (the caller holds it to the fence).
/// Gives up after [`MAX_WALK_ENTRIES`] entries.
pub fn walk(
    dir: &Path,
    enter: &dyn Fn(&Path, &str) -> bool,
    keep: &dyn Fn(&Path, &str) -> bool,
) -> Result<Vec<PathBuf>, TooManyEntries> {
    let mut out = Vec::new();
    let mut budget = MAX_WALK_ENTRIES;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            budget = budget.checked_sub(1).ok_or(TooManyEntries)?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if enter(&path, &name) {
                    subdirs.push(path);
                }
            } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
                && keep(&path, &name)
            {
                out.push(path);
            }
        }
        // Depth first, in name order.
        subdirs.sort();
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort();
    Ok(out)
}

/// Whether a path text holds a glob's special characters.
pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The directory a glob's fixed leading components name (`data/events` of
/// `data/events/*/x.parquet`).
pub fn glob_root(pattern: &str) -> &str {
    let mut end = 0;
    for seg in pattern.split_inclusive('/') {
        if is_glob(seg) {
            break;
        }
        end += seg.len();
    }
    pattern[..end].trim_end_matches('/')
}

/// The files and directories below `dir` matching the glob `pattern`
/// (relative to `dir`; `**` is any run of directories, `*` stays within one
/// name and never matches a leading dot). A walk from the glob's fixed
/// leading directories, by [`walk`]'s rules: no linked directory is
/// entered. Directories that match are returned as well as files, so that
/// a caller can read a matched directory whole.
pub fn glob(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let normalized = normalize(Path::new(pattern));
    let pattern_text = normalized.to_string_lossy().into_owned();
    let compiled = glob::Pattern::new(&pattern_text).map_err(|e| e.msg.to_string())?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let root = dir.join(glob_root(&pattern_text));
    let matches = |path: &Path| {
        path.strip_prefix(dir)
            .is_ok_and(|rel| compiled.matches_path_with(rel, options))
    };
    let matched_dirs = std::cell::RefCell::new(Vec::new());
    let enter = |path: &Path, name: &str| {
        if name.starts_with('.') {
            return false;
        }
        if matches(path) {
            matched_dirs.borrow_mut().push(path.to_path_buf());
        }
        true
    };
    let keep = |path: &Path, _: &str| matches(path);
    let mut found = walk(&root, &enter, &keep)
        .map_err(|_| format!("the pattern walks more than {MAX_WALK_ENTRIES} entries"))?;
    found.extend(matched_dirs.into_inner());
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence_at(dir: &Path) -> Fence {
        Fence::new(dir, &[])
    }

    #[test]
    fn written_paths_stay_inside_the_project() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        let f = fence_at(dir);
        assert!(f.written(dir, "data/events.parquet").is_ok());
        assert!(f.written(dir, "data/../data/x.parquet").is_ok());
        assert!(f.written(&dir.join("tests"), "../fixtures/e.csv").is_ok());
        let abs = f.written(dir, "/etc/passwd").unwrap_err();
        assert!(abs.contains("an absolute path"), "{abs}");
        let up = f.written(dir, "../secrets/x.parquet").unwrap_err();
        assert!(up.contains("leaves the project"), "{up}");
        let up2 = f.written(&dir.join("tests"), "../../x.csv").unwrap_err();
        assert!(up2.contains("leaves the project"), "{up2}");
        let hidden = f.written(dir, ".git/config").unwrap_err();
        assert!(hidden.contains("hidden directory `.git`"), "{hidden}");
        let glob = f.written(dir, "/**/*.parquet").unwrap_err();
        assert!(glob.contains("absolute"), "{glob}");
        // An allowed directory opens exactly itself.
        let shared = tempfile::tempdir().unwrap();
        let wide = Fence::new(dir, &[shared.path().to_path_buf()]);
        let inside = shared.path().join("x.parquet");
        assert!(wide.written(dir, &inside.to_string_lossy()).is_ok());
        assert!(wide.written(dir, "/etc/passwd").is_err());
    }

    #[test]
    fn found_files_are_held_to_the_fence_after_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.parquet"), "x").unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/config"), "x").unwrap();
        std::fs::write(dir.join("data/ok.parquet"), "x").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.parquet"),
            dir.join("data/out.parquet"),
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.join(".git/config"), dir.join("data/git.parquet")).unwrap();
        std::os::unix::fs::symlink(dir.join("data/ok.parquet"), dir.join("data/in.parquet"))
            .unwrap();
        let f = fence_at(dir);
        assert!(f.found(&dir.join("data/ok.parquet")).is_ok());
        assert!(f.found(&dir.join("data/in.parquet")).is_ok());
        let out = f.found(&dir.join("data/out.parquet")).unwrap_err();
        assert!(out.contains("outside the project"), "{out}");
        let git = f.found(&dir.join("data/git.parquet")).unwrap_err();
        assert!(git.contains("hidden directory `.git`"), "{git}");
        let wide = Fence::new(dir, &[outside.path().to_path_buf()]);
        assert!(wide.found(&dir.join("data/out.parquet")).is_ok());
    }

    #[test]
    fn walks_do_not_follow_linked_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("data/events/day=1")).unwrap();
        std::fs::write(dir.join("data/events/day=1/a.parquet"), "x").unwrap();
        std::fs::write(dir.join("data/events/b.parquet"), "x").unwrap();
        std::fs::write(dir.join("data/c.parquet"), "x").unwrap();
        std::os::unix::fs::symlink(dir, dir.join("a")).unwrap();
        std::os::unix::fs::symlink(dir, dir.join("data/b")).unwrap();
        let all = |_: &Path, _: &str| true;
        let rel = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
                .collect()
        };
        let files = walk(dir, &all, &|p, _| p.is_file()).unwrap();
        assert_eq!(
            rel(files),
            [
                "data/c.parquet",
                "data/events/b.parquet",
                "data/events/day=1/a.parquet"
            ]
        );
        assert_eq!(
            rel(glob(dir, "data/**/*.parquet").unwrap()),
            [
                "data/c.parquet",
                "data/events/b.parquet",
                "data/events/day=1/a.parquet"
            ]
        );
        assert_eq!(
            rel(glob(dir, "data/*.parquet").unwrap()),
            ["data/c.parquet"]
        );
        assert_eq!(rel(glob(dir, "data/ev*").unwrap()), ["data/events"]);
        assert_eq!(
            rel(glob(dir, "**/b.parquet").unwrap()),
            ["data/events/b.parquet"]
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(escape("x\ry\u{7}"), "x\\u{d}y\\u{7}");
        assert_eq!(escape("two\nlines\tkept"), "two\nlines\tkept");
        assert_eq!(escape("\u{202e}abc"), "\\u{202e}abc");
    }
}
