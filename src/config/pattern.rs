//! Netdata's "simple patterns" (`allow from`, `send charts matching`, `[web] allow ... from`).
//!
//! Syntax: a list of patterns separated by white space. A backslash makes the next character
//! literal (so `\ ` puts a space inside a pattern). `*` matches any run of characters (also
//! none), anywhere and any number of times; every other character matches itself
//! (case-sensitive). A pattern prefixed with `!` is negative. Patterns are tried left to
//! right; the first that matches decides (a negative one means "no"); if none matches, the
//! answer is no. An empty string never matches. An empty list is [`SimplePattern::is_empty`]:
//! callers decide what that means (Netdata skips the check, i.e. allows, for `allow from`).
//!
//! Differences from Netdata's C matcher, on inputs no real config uses: consecutive stars
//! (`a**b`) are one star here, and a lone `!` is ignored.

/// A parsed list of simple patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimplePattern {
    items: Vec<(bool, String)>,
    source: String,
}

/// Most patterns we keep from one value (bounds work on hostile input).
pub const MAX_PATTERNS: usize = 1024;

impl SimplePattern {
    /// Parses a space-separated list.
    pub fn new(list: &str) -> SimplePattern {
        Self::split_by(list, |c| c.is_ascii_whitespace())
    }

    /// Parses a list separated by any of `seps` (the API's `dimensions=a|b,c` form).
    pub fn with_separators(list: &str, seps: &[char]) -> SimplePattern {
        Self::split_by(list, |c| seps.contains(&c))
    }

    fn split_by(list: &str, is_sep: impl Fn(char) -> bool) -> SimplePattern {
        let mut items = Vec::new();
        let mut chars = list.chars().peekable();
        while items.len() < MAX_PATTERNS {
            while chars.peek().is_some_and(|&c| is_sep(c)) {
                chars.next();
            }
            let Some(&first) = chars.peek() else { break };
            let negative = first == '!';
            if negative {
                chars.next();
            }
            let mut pat = String::new();
            let mut escape = false;
            for c in chars.by_ref() {
                if c == '\\' && !escape {
                    escape = true;
                    continue;
                }
                if is_sep(c) && !escape {
                    break;
                }
                pat.push(c);
                escape = false;
            }
            if !pat.is_empty() {
                items.push((negative, pat));
            }
        }
        SimplePattern { items, source: list.to_string() }
    }

    /// No pattern at all (the value was empty or blank).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The text the pattern was made from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// First matching pattern decides; no match (or an empty `s`) is `false`.
    pub fn matches(&self, s: &str) -> bool {
        self.decide(s) == Some(true)
    }

    /// `Some(true)`: a positive pattern matched first; `Some(false)`: a negative one did;
    /// `None`: nothing matched (or `s` is empty).
    pub fn decide(&self, s: &str) -> Option<bool> {
        if s.is_empty() {
            return None;
        }
        self.items.iter().find(|(_, p)| glob(p, s)).map(|(negative, _)| !negative)
    }
}

impl std::fmt::Display for SimplePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Matches `s` against `pattern` where `*` is the only wildcard. Linear-time greedy matching
/// with one backtrack point (the last star), so hostile input cannot blow up.
pub fn glob(pattern: &str, s: &str) -> bool {
    let p = pattern.as_bytes();
    let s = s.as_bytes();
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Convenience: does `list` (a simple-pattern string) match `s`?
pub fn simple_pattern_matches(list: &str, s: &str) -> bool {
    SimplePattern::new(list).matches(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_and_negation() {
        let p = SimplePattern::new("!10.0.0.1 10.0.0.* !* ");
        assert!(!p.matches("10.0.0.1"));
        assert!(p.matches("10.0.0.2"));
        assert!(!p.matches("192.168.1.1"));
        let q = SimplePattern::new("10.* !10.0.0.1");
        assert!(q.matches("10.0.0.1"));
    }

    #[test]
    fn wildcards() {
        assert!(glob("*", "x"));
        assert!(glob("a*", "abc"));
        assert!(glob("*c", "abc"));
        assert!(glob("*b*", "abc"));
        assert!(glob("a*c*e", "abcdcxe"));
        assert!(!glob("a*c*e", "abcdcx"));
        assert!(glob("abc", "abc"));
        assert!(!glob("abc", "abcd"));
        assert!(!glob("*ab*ba", "aba"));
        assert!(!SimplePattern::new("*").matches(""));
    }

    #[test]
    fn escapes_and_empty() {
        let p = SimplePattern::new(r"a\ b c");
        assert!(p.matches("a b"));
        assert!(p.matches("c"));
        assert!(!p.matches("a"));
        assert!(SimplePattern::new("  ").is_empty());
    }
}
