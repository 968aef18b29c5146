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

/// Byte classes.
const PLAIN: u8 = 0;
const SEP: u8 = 1;
const BACKSLASH: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    t[b' ' as usize] = SEP;
    t[b'\t' as usize] = SEP;
    t[b'\r' as usize] = SEP;
    t[b'\n' as usize] = SEP;
    t[b'=' as usize] = SEP;
    t[b'\\' as usize] = BACKSLASH;
    t
};

/// True for the bytes Netdata's tokenizer treats as word separators (space, tab, CR, LF, `=`).
#[inline]
pub fn is_separator(b: u8) -> bool {
    CLASS[b as usize] == SEP
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the result is set for the lowest zero byte of `v` (bytes above the
/// first zero may be false positives, which `trailing_zeros` ignores).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Index of the first `q` or `\` in `hay`, eight bytes at a time.
#[inline(always)]
pub(crate) fn find_quote_or_backslash(hay: &[u8], q: u8) -> Option<usize> {
    let qq = LO.wrapping_mul(u64::from(q));
    let bs = LO.wrapping_mul(u64::from(b'\\'));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in chunks.by_ref() {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let x = u64::from_le_bytes(a);
        let m = zero_bytes(x ^ qq) | zero_bytes(x ^ bs);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&c| c == q || c == b'\\').map(|p| base + p)
}

/// Index of the first `b` in `hay`, eight bytes at a time (a small safe `memchr`).
#[inline]
pub(crate) fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    let bb = LO.wrapping_mul(u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in chunks.by_ref() {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let m = zero_bytes(u64::from_le_bytes(a) ^ bb);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&c| c == b).map(|p| base + p)
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

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let len = line.len();
        let mut i = self.pos;
        while i < len && CLASS[line[i] as usize] == SEP {
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
            while let Some(k) = find_quote_or_backslash(&line[i..], first) {
                i += k;
                if line[i] == first {
                    self.pos = i + 1;
                    return Some(&line[start..i]);
                }
                // a backslash skips the next byte (if there is one)
                i += 2;
                if i >= len {
                    break;
                }
            }
            self.pos = len;
            Some(line.get(start..).unwrap_or(&[]))
        } else {
            let start = i;
            while i < len {
                match CLASS[line[i] as usize] {
                    PLAIN => i += 1,
                    SEP => {
                        self.pos = i + 1;
                        return Some(&line[start..i]);
                    }
                    _ if i + 1 < len => i += 2,
                    _ => i += 1,
                }
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

    /// A direct transcription of Netdata's loop, byte by byte, as the reference.
    fn reference(line: &[u8]) -> Vec<Vec<u8>> {
        let sep = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'=');
        let mut words = Vec::new();
        let mut i = 0;
        loop {
            while i < line.len() && sep(line[i]) {
                i += 1;
            }
            if i >= line.len() {
                return words;
            }
            let quote = if line[i] == b'"' || line[i] == b'\'' { Some(line[i]) } else { None };
            if quote.is_some() {
                i += 1;
            }
            let start = i;
            while i < line.len() {
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() {
                    i += 2;
                    continue;
                }
                if Some(c) == quote || (quote.is_none() && sep(c)) {
                    break;
                }
                i += 1;
            }
            let end = i.min(line.len());
            words.push(line[start..end].to_vec());
            i = end + 1;
        }
    }

    #[test]
    fn matches_the_reference_on_random_lines() {
        let alphabet = b"ab \"'\\=\t\rxyz0123456789 \"";
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let len = (x % 40) as usize;
            let mut line = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                line.push(alphabet[((y >> 33) % alphabet.len() as u64) as usize]);
            }
            let got: Vec<Vec<u8>> = Words::new(&line).map(<[u8]>::to_vec).collect();
            assert_eq!(got, reference(&line), "{:?}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        for start in 0..40 {
            for b in [0u8, 10, 37, 250, 255] {
                let h = &hay[start..];
                assert_eq!(find_byte(h, b), h.iter().position(|&c| c == b), "{start} {b}");
            }
        }
    }

    #[test]
    fn long_quoted_words_with_escapes() {
        let line = br#"X "0123456789abcdef\"ghijklmnop\\" "tail"#;
        let w: Vec<&[u8]> = Words::new(line).collect();
        assert_eq!(w, [&b"X"[..], br#"0123456789abcdef\"ghijklmnop\\"#, b"tail"]);
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
