//! Netdata's line tokenizer (`pluginsd_split_words` in 1.37.1), as a borrowing iterator.
//!
//! Rules (spec §4):
//! * separators are space, tab, `\r`, `\n` **and `=`**; runs of separators are one gap;
//! * a word that *starts* with `"` or `'` runs to the next identical quote (separators inside are
//!   kept); a closing quote also ends the word, so `"a"b` is two words;
//! * a quote in the middle of an unquoted word is an ordinary byte;
//! * a backslash makes the tokenizer skip the next byte (so `\"` does not close a quoted word),
//!   but the backslash stays in the word — there is no unescaping;
//! * an unterminated quoted word runs to the end of the line.
//!
//! The iterator never allocates and never panics; word-count limits are enforced by the caller
//! ([`crate::proto::command`]), because Netdata's limit (20 words) counts the keyword too.

/// Maximum number of words in a line, keyword included (`PLUGINSD_MAX_WORDS`).
pub const MAX_WORDS: usize = 20;

/// Byte classes: 1 = separator.
static SEPARATOR: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'=' as usize] = true;
    t
};

/// True for the bytes Netdata's tokenizer treats as word separators (space, tab, CR, LF, `=`).
#[inline]
pub fn is_separator(b: u8) -> bool {
    SEPARATOR[b as usize]
}

/// Iterator over the words of one line (without its `\n`, although a trailing `\n` is harmless).
#[derive(Debug, Clone)]
pub struct Words<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Words<'a> {
    /// Starts tokenizing `line`.
    #[inline]
    pub fn new(line: &'a [u8]) -> Self {
        Words { line, pos: 0 }
    }

    /// The unread rest of the line (starting at the separator after the last returned word).
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or(&[])
    }

    /// Counts the remaining words without consuming `self`.
    pub fn count_remaining(&self) -> usize {
        self.clone().count()
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let len = line.len();
        let mut i = self.pos;
        while i < len && SEPARATOR[line[i] as usize] {
            i += 1;
        }
        if i >= len {
            self.pos = len;
            return None;
        }
        let first = line[i];
        if first == b'"' || first == b'\'' {
            let start = i + 1;
            i = start;
            while i < len {
                let c = line[i];
                if c == b'\\' && i + 1 < len {
                    i += 2;
                    continue;
                }
                if c == first {
                    self.pos = i + 1;
                    return Some(&line[start..i]);
                }
                i += 1;
            }
            self.pos = len;
            Some(line.get(start..).unwrap_or(&[]))
        } else {
            let start = i;
            while i < len {
                let c = line[i];
                if c == b'\\' && i + 1 < len {
                    i += 2;
                    continue;
                }
                if SEPARATOR[c as usize] {
                    self.pos = i + 1;
                    return Some(&line[start..i]);
                }
                i += 1;
            }
            self.pos = len;
            Some(line.get(start..len).unwrap_or(&[]))
        }
    }
}

/// Splits a line into at most `MAX_WORDS` words; returns the words and whether more were present.
/// Convenience for tests and tools; the hot path uses [`Words`] directly.
pub fn split_words(line: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut it = Words::new(line);
    let words: Vec<&[u8]> = it.by_ref().take(MAX_WORDS).collect();
    let more = it.next().is_some();
    (words, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        Words::new(s.as_bytes())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    #[test]
    fn equals_sign_is_a_separator() {
        assert_eq!(words(r#"SET "x" = 5"#), ["SET", "x", "5"]);
        assert_eq!(words(r#"LABEL "k" = 1 "v""#), ["LABEL", "k", "1", "v"]);
        assert_eq!(words("SET x=5"), ["SET", "x", "5"]);
    }

    #[test]
    fn quoted_words_keep_separators_and_may_be_empty() {
        assert_eq!(
            words(r#"CHART "a.b" "" "Disk Space" "   " 1"#),
            ["CHART", "a.b", "", "Disk Space", "   ", "1"]
        );
        assert_eq!(words("RBEGIN '' 1 2 3"), ["RBEGIN", "", "1", "2", "3"]);
        assert_eq!(words(r#"X "a=b c""#), ["X", "a=b c"]);
    }

    #[test]
    fn closing_quote_ends_a_word_and_mid_quotes_are_plain() {
        assert_eq!(words(r#"X "a"b"#), ["X", "a", "b"]);
        assert_eq!(words(r#"X ab"cd ef"#), ["X", "ab\"cd", "ef"]);
        assert_eq!(words(r#"X 'it"s' "#), ["X", "it\"s"]);
    }

    #[test]
    fn backslash_skips_next_byte_but_is_kept() {
        assert_eq!(words(r#"X "a\"b" c"#), ["X", r#"a\"b"#, "c"]);
        assert_eq!(words(r"X a\ b c"), ["X", r"a\ b", "c"]);
        // a trailing backslash is an ordinary byte
        assert_eq!(words(r"X a\"), ["X", r"a\"]);
    }

    #[test]
    fn unterminated_quote_runs_to_end_and_crlf_is_whitespace() {
        assert_eq!(words("X \"abc def"), ["X", "abc def"]);
        assert_eq!(words("  END\r\n"), ["END"]);
        assert!(words(" \t = \r").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn split_words_reports_overflow() {
        let line = (0..25).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let (w, more) = split_words(line.as_bytes());
        assert_eq!(w.len(), MAX_WORDS);
        assert!(more);
        let (w, more) = split_words(b"a b c");
        assert_eq!(w.len(), 3);
        assert!(!more);
    }
}
