//! A project's files at a git revision, read from git's objects: the
//! working tree is never checked out, written or read for them.
//!
//! We run the `git` program rather than link a git library: `diff` needs
//! three plumbing commands (`rev-parse`, `ls-tree`, `cat-file --batch`),
//! every machine that holds a repository has `git`, and it honours the
//! user's configuration (alternates, partial clones, safe directories)
//! exactly as their other git commands do.

use crate::driver::Snapshot;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository holding a project directory.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The repository's top directory.
    top: PathBuf,
    /// The project directory relative to `top`, with a trailing `/` (empty
    /// at the top).
    prefix: String,
}

/// What `git` printed, or why it could not run.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    // Paths are paths, not patterns: a project directory named `a[1]*`.
    let out = Command::new("git")
        .arg("--literal-pathspecs")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(crate::fence::escape(first));
    }
    Ok(out.stdout)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string()
}

impl Repo {
    /// The repository that holds `project_dir`.
    pub fn open(project_dir: &Path) -> Result<Repo, String> {
        let dir = if project_dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            project_dir
        };
        let top = text(git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            format!(
                "`{}` is not in a git repository ({e})",
                crate::fence::escape(&dir.display().to_string())
            )
        })?);
        let prefix = text(git(dir, &["rev-parse", "--show-prefix"])?);
        Ok(Repo {
            top: PathBuf::from(top),
            prefix,
        })
    }

    /// The commit `rev` names, as a full hash.
    pub fn commit(&self, rev: &str) -> Result<String, String> {
        if rev.starts_with('-') || rev.is_empty() {
            return Err(format!("`{}` is not a revision", crate::fence::escape(rev)));
        }
        // The object first, then its commit: `:/message` takes no suffix.
        let peel = |object: String| {
            let spec = format!("{object}^{{commit}}");
            git(&self.top, &["rev-parse", "--verify", "--quiet", &spec]).map(text)
        };
        git(&self.top, &["rev-parse", "--verify", "--quiet", rev])
            .map(text)
            .and_then(peel)
            .map_err(|_| {
                format!(
                    "`{}` names no commit of the repository at `{}`",
                    crate::fence::escape(rev),
                    crate::fence::escape(&self.top.display().to_string())
                )
            })
    }

    /// The project's YAML files at commit `rev` (project file, definition
    /// and test files), by path relative to the project directory. Links
    /// and submodules are not followed: their paths come back in `skipped`.
    pub fn snapshot(&self, rev: &str) -> Result<(Snapshot, Vec<PathBuf>), String> {
        let commit = self.commit(rev)?;
        let mut args = vec!["ls-tree", "-r", "-z", "-l", "--full-tree", commit.as_str()];
        if !self.prefix.is_empty() {
            args.extend(["--", self.prefix.as_str()]);
        }
        let listing = git(&self.top, &args)?;
        let mut wanted: Vec<(PathBuf, String)> = Vec::new();
        let mut skipped = Vec::new();
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            // `<mode> <type> <object> <size>\t<path>`
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let Some(rel) = path.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            let rel = PathBuf::from(rel);
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let fields: Vec<&str> = meta.split_whitespace().collect();
            // A submodule may hold definitions a `files:` glob names.
            if fields.get(1) == Some(&"commit") {
                skipped.push(rel);
                continue;
            }
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            match fields.as_slice() {
                [mode, "blob", object, _] if *mode == "100644" || *mode == "100755" => {
                    wanted.push((rel, object.to_string()));
                }
                _ => skipped.push(rel),
            }
        }
        let mut files = std::collections::BTreeMap::new();
        for ((rel, _), bytes) in wanted.iter().zip(self.blobs(&wanted)?) {
            files.insert(rel.clone(), bytes);
        }
        Ok((
            Snapshot {
                label: rev.to_string(),
                files,
            },
            skipped,
        ))
    }

    /// The contents of `objects`, in order, from one `git cat-file --batch`.
    /// Objects larger than a definition file may be are read no further
    /// than that limit plus one byte (enough for the size check to refuse
    /// them), the rest is skipped.
    fn blobs(&self, objects: &[(PathBuf, String)]) -> Result<Vec<Vec<u8>>, String> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run `git`: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("no pipe to git")?;
        let request: String = objects.iter().map(|(_, o)| format!("{o}\n")).collect();
        // Written from a thread: git answers while it reads, and a full
        // pipe on both sides would block.
        let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
        let mut stdout = std::io::BufReader::new(child.stdout.take().ok_or("no pipe from git")?);
        let mut out = Vec::with_capacity(objects.len());
        let limit = crate::source::MAX_FILE_BYTES as usize + 1;
        for _ in objects {
            let mut header = Vec::new();
            read_line(&mut stdout, &mut header)?;
            let header = String::from_utf8_lossy(&header).into_owned();
            let size: usize = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("git answered `{}`", crate::fence::escape(&header)))?;
            let mut body = vec![0; size.min(limit)];
            stdout
                .read_exact(&mut body)
                .map_err(|e| format!("reading from git: {e}"))?;
            std::io::copy(
                &mut (&mut stdout).take((size - body.len()) as u64 + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| format!("reading from git: {e}"))?;
            out.push(body);
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(out)
    }
}

fn read_line(r: &mut impl std::io::BufRead, into: &mut Vec<u8>) -> Result<(), String> {
    r.read_until(b'\n', into)
        .map_err(|e| format!("reading from git: {e}"))?;
    if into.last() == Some(&b'\n') {
        into.pop();
        Ok(())
    } else {
        Err("git ended early".into())
    }
}

/// The project's YAML files below `dir` on disk as a snapshot (the base of
/// a diff between two directories). Held to the rules of a disk check:
/// nothing below hidden directories, `data/` or `target/`, and a linked
/// file only when it leads inside `dir`.
pub fn directory(dir: &Path) -> Result<Snapshot, String> {
    let is_yaml = |name: &str| name.ends_with(".yaml") || name.ends_with(".yml");
    let found = crate::source::walk(dir, &is_yaml).map_err(|_| {
        format!(
            "`{}` holds more than {} entries",
            dir.display(),
            crate::fence::MAX_WALK_ENTRIES
        )
    })?;
    let fence = crate::fence::Fence::new(dir, &[]);
    let mut files = std::collections::BTreeMap::new();
    for path in found {
        if fence.found(&path).is_err() {
            continue;
        }
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
        let bytes = if meta.len() > crate::source::MAX_FILE_BYTES {
            vec![0; crate::source::MAX_FILE_BYTES as usize + 1]
        } else {
            std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
        };
        files.insert(rel.to_path_buf(), bytes);
    }
    Ok(Snapshot {
        label: crate::fence::display_name(dir),
        files,
    })
}
