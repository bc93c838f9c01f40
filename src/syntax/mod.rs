//! Stage `parse`: YAML text -> [`ast::Ast`]. YAML is read with spans
//! ([`yaml`]), each expression is parsed with pest ([`expr`]) and rebased onto
//! its file ([`scalar`]); [`build`] turns the YAML tree into the AST, with
//! the keys of each mapping from [`keys`], which [`schema`] also writes as
//! JSON Schema for editors.

pub mod ast;
pub mod build;
pub mod expr;
pub(crate) mod fields;
pub mod keys;
mod kinds;
pub mod scalar;
pub mod schema;
pub mod yaml;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::SourceFile;
use crate::span::{FileId, Span};
use ast::Ast;
use fields::Cx;

/// Whether a file is the project file or a definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Project,
    Definitions,
}

/// Parses one file into `ast`, appending diagnostics.
pub fn parse_file(
    id: FileId,
    file: &SourceFile,
    role: FileRole,
    ast: &mut Ast,
    diags: &mut Diagnostics,
) {
    match yaml::parse(id, &file.text) {
        Ok(Some(root)) => {
            let mut cx = Cx {
                file: id,
                text: &file.text,
                diags,
            };
            match role {
                FileRole::Project => build::project(&mut cx, &root, ast),
                FileRole::Definitions => build::file(&mut cx, &root, ast),
            }
        }
        Ok(None) => match role {
            FileRole::Project => diags.push(
                Diagnostic::new(Code::MissingKey, "the project file is empty")
                    .at(Span::new(id, 0, 0), "`name` is required here")
                    .with_help("add `name: my_project`"),
            ),
            FileRole::Definitions => diags.push(
                Diagnostic::new(Code::EmptyFile, "definition file is empty")
                    .at(Span::new(id, 0, 0), "nothing defined in this file")
                    .with_help("add `metrics:` or `sources:`, or delete the file"),
            ),
        },
        Err(d) => diags.push(d),
    }
}
