//! Stage `read`: paths -> [`SourceFile`]s with ids. Reports I/O problems only.

use crate::span::FileId;
use std::path::{Path, PathBuf};

/// Files larger than this are refused before parsing (metric files are small;
/// a huge file is a mistake or hostile).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One text file of the project, kept for rendering diagnostics.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the working directory when possible).
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// Whether a file name is a test file's (`*.test.yaml`, `*.test.yml`).
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Whether a file name is a definition file's: YAML and not a test file.
pub fn is_definition_file(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_test_file(name)
}

/// The files below `dir` whose names pass `keep`, in path order. Hidden
/// files and directories, `data/` and `target/` are left out. Linked
/// directories are not entered, so a walk cannot loop or leave the tree;
/// linked files are listed, and the caller holds them to the project's
/// [`crate::fence::Fence`]. The one rule for finding a project's definition
/// files and test files.
pub fn walk(
    dir: &Path,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<PathBuf>, crate::fence::TooManyEntries> {
    crate::fence::walk(
        dir,
        &|_, name| !name.starts_with('.') && name != "data" && name != "target",
        &|_, name| !name.starts_with('.') && keep(name),
    )
}

/// Why a file could not be read as text.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    Io(String),
    TooLarge(u64),
    /// Byte offset of the first invalid UTF-8 sequence.
    NotUtf8(usize),
}

/// Why a file could not be read, in words.
pub fn describe(e: &ReadError) -> String {
    match e {
        ReadError::Io(e) => e.clone(),
        ReadError::TooLarge(n) => {
            format!("the file is too large ({n} bytes; at most {MAX_FILE_BYTES})")
        }
        ReadError::NotUtf8(at) => format!(
            "the file is not UTF-8 text (the first invalid byte is at offset {at}); save it as UTF-8"
        ),
    }
}

/// All source files of a run, addressed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceSet {
    files: Vec<SourceFile>,
}

impl SourceSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds in-memory text (tests, generated files) and returns its id.
    pub fn add(&mut self, name: impl Into<String>, path: PathBuf, text: String) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile {
            name: name.into(),
            path,
            text,
        });
        id
    }

    /// Reads a file from disk. On failure the file is still registered (with empty
    /// text) so a diagnostic can name it.
    pub fn read(&mut self, path: &Path) -> (FileId, Result<(), ReadError>) {
        let name = display_name(path);
        let result = read_text(path);
        match result {
            Ok(text) => (self.add(name, path.to_path_buf(), text), Ok(())),
            Err(e) => (self.add(name, path.to_path_buf(), String::new()), Err(e)),
        }
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error().valid_up_to()))
}

pub use crate::fence::display_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_does_not_enter_linked_directories_and_keeps_its_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        for f in [
            "a.yaml",
            "sub/b.yml",
            "sub/c.test.yaml",
            "sub/d.test.yml",
            "data/e.yaml",
            ".git/f.yaml",
            "notes.txt",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        // Two links to the project itself: a walk that followed them without
        // entering each directory once would not end.
        std::os::unix::fs::symlink(dir, dir.join("loop_a")).unwrap();
        std::os::unix::fs::symlink(dir, dir.join("sub/loop_b")).unwrap();
        std::os::unix::fs::symlink(dir.join("a.yaml"), dir.join("sub/linked.yaml")).unwrap();
        // A linked directory elsewhere is not entered.
        let shared = tempfile::tempdir().unwrap();
        std::fs::write(shared.path().join("shared.yaml"), "").unwrap();
        std::os::unix::fs::symlink(shared.path(), dir.join("shared")).unwrap();
        let rel = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(walk(dir, &is_definition_file).unwrap()),
            ["a.yaml", "sub/b.yml", "sub/linked.yaml"]
        );
        assert_eq!(
            rel(walk(dir, &is_test_file).unwrap()),
            ["sub/c.test.yaml", "sub/d.test.yml"]
        );
    }
}
