//! Source positions shared by every stage: a [`Span`] is a file id plus a byte range.

/// Index of a file in a [`crate::source::SourceSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file. Small and `Copy`: carried on every AST node,
/// resolved to line and column only when a diagnostic is rendered.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

thread_local! {
    static HIDDEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `f`'s result with every span printed as `_` by `Debug`: the debug text
/// of a resolved definition then says what it means and not where it was
/// written, which is how `metricc diff` compares two versions' meanings.
pub fn without_spans<T>(f: impl FnOnce() -> T) -> T {
    let before = HIDDEN.with(|h| h.replace(true));
    let out = f();
    HIDDEN.with(|h| h.set(before));
    out
}

/// Whether [`without_spans`] is in force: `Debug` then leaves out how a
/// value was written as well as where.
pub fn spans_hidden() -> bool {
    HIDDEN.with(|h| h.get())
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if HIDDEN.with(|h| h.get()) {
            return f.write_str("_");
        }
        f.debug_struct("Span")
            .field("file", &self.file)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = u32::try_from(end).unwrap_or(u32::MAX).max(start);
        Span { file, start, end }
    }

    /// A span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// `offset` moved back to the start of the character it falls in, and to
/// the end of `text` at most.
pub fn char_floor(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = char_floor(text, offset);
    let before = &text[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}
