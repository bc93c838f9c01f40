//! Maps positions inside a YAML string value back to byte offsets in the file,
//! so a token inside a quoted, plain or block scalar reports its own line and column.

/// For each byte offset of `value`, the byte offset in the file it came from.
///
/// `raw` is the scalar's source text (quotes, escapes, folded line breaks and
/// indentation included) and `raw_start` its offset in the file. Value
/// characters are matched greedily against the raw text; a character with no
/// counterpart (an escape such as `\n`, a folded line break) takes the position
/// of the next raw character, which is where a reader would look.
#[derive(Debug, Clone)]
pub struct OffsetMap {
    /// `map[i]` = file offset of value byte `i`; one extra entry for the end.
    map: Vec<u32>,
}

impl OffsetMap {
    pub fn new(value: &str, raw: &str, raw_start: usize) -> Self {
        let mut map = Vec::with_capacity(value.len() + 1);
        let raw_bytes: Vec<(usize, char)> = raw.char_indices().collect();
        let mut r = 0usize;
        // A quoted scalar's opening quote is not part of the value.
        if matches!(raw_bytes.first(), Some((_, '\'' | '"'))) {
            r = 1;
        }
        for ch in value.chars() {
            // Look ahead a bounded distance for the same character.
            let found = raw_bytes[r.min(raw_bytes.len())..]
                .iter()
                .take(16)
                .position(|(_, c)| *c == ch || (ch == ' ' && *c == '\n'));
            let at = match found {
                Some(k) => {
                    r += k;
                    let pos = raw_bytes.get(r).map_or(raw.len(), |(i, _)| *i);
                    r += 1;
                    pos
                }
                None => raw_bytes.get(r).map_or(raw.len(), |(i, _)| *i),
            };
            for _ in 0..ch.len_utf8() {
                map.push((raw_start + at) as u32);
            }
        }
        let end = raw_bytes.get(r).map_or(raw.len(), |(i, _)| *i);
        map.push((raw_start + end) as u32);
        OffsetMap { map }
    }

    /// An identity map: the value is written verbatim at `start`.
    pub fn identity(start: usize, len: usize) -> Self {
        OffsetMap {
            map: (start..=start + len).map(|o| o as u32).collect(),
        }
    }

    /// File offset of value byte `i` (clamped to the end).
    pub fn get(&self, i: usize) -> usize {
        self.map[i.min(self.map.len() - 1)] as usize
    }

    /// File range of value range `start..end`; never empty unless the value is.
    pub fn range(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.get(start);
        let e = if end > start {
            self.get(end - 1) + 1
        } else {
            s
        };
        (s, e.max(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, raw: &str, token: &str) -> String {
        let m = OffsetMap::new(value, raw, 0);
        let i = value.find(token).unwrap();
        let (s, e) = m.range(i, i + token.len());
        raw[s..e].to_string()
    }

    #[test]
    fn plain_scalar_is_identity() {
        assert_eq!(check("event = 'x'", "event = 'x'", "'x'"), "'x'");
    }

    #[test]
    fn single_quoted_with_doubled_quotes() {
        assert_eq!(
            check("a = 'b' and stauts", "'a = ''b'' and stauts'", "stauts"),
            "stauts"
        );
    }

    #[test]
    fn double_quoted_with_escapes() {
        assert_eq!(check("a = \"b\" or x", "\"a = \\\"b\\\" or x\"", "x"), "x");
    }

    #[test]
    fn block_scalar_across_lines() {
        let raw = "event = 'api_call'\n  and stauts < 400\n";
        let value = "event = 'api_call'\nand stauts < 400\n";
        assert_eq!(check(value, raw, "stauts"), "stauts");
    }

    #[test]
    fn folded_scalar_across_lines() {
        let raw = "event = 'api_call'\n  and stauts < 400\n";
        let value = "event = 'api_call' and stauts < 400\n";
        assert_eq!(check(value, raw, "stauts"), "stauts");
    }
}
