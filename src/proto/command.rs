//! Typed commands of the 1.37.1 line protocol: one type per keyword, parse and encode side by
//! side, the wire syntax in each doc comment (spec §4–§6).
//!
//! * [`Command`] — lines a parent receives from a child (child → parent, §5).
//! * [`Downstream`] — lines a child receives from a parent (parent → child, §6).
//!
//! Parsing borrows from the line (`Cow::Borrowed` unless the bytes are not UTF-8, in which case
//! invalid sequences are replaced by U+FFFD) and never panics. Encoding appends the bytes a
//! 1.37.1 sender writes, including the trailing `\n`: quoting as in the §4 table, `%0.7f`
//! doubles, option fields kept verbatim (e.g. `"   "`).
//!
//! Extra words after the ones a command uses are ignored (as Netdata does), but a line with more
//! than [`MAX_WORDS`] words is refused ([`ParseError::TooManyWords`]).

use std::borrow::Cow;

use super::number::{
    parse_f64, parse_fixed7, parse_i64, parse_ndd, parse_strtoll, parse_u64, put_f7, put_i64,
    put_u64,
};
use super::tokenizer::{is_separator, Words, MAX_WORDS};
use super::MAX_LINE_LEN;

/// Text taken from a line: borrowed when the bytes are valid UTF-8.
pub type Text<'a> = Cow<'a, str>;

/// How much of an offending line an error keeps (for log lines).
const EXCERPT_LEN: usize = 120;

/// Why a line could not be turned into a command. Every variant carries enough context for a
/// log line (`keyword`, a lossy excerpt of the line, sizes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The first word is not a keyword of this direction (keywords are case-sensitive).
    #[error("unknown keyword {keyword:?} in line {excerpt:?}")]
    UnknownKeyword { keyword: String, excerpt: String },
    /// A known keyword with missing or invalid arguments.
    #[error("malformed {keyword} line ({reason}): {excerpt:?}")]
    Malformed { keyword: &'static str, reason: &'static str, excerpt: String },
    /// The line is longer than the protocol maximum.
    #[error("line of {len} bytes exceeds the maximum of {max} bytes: {excerpt:?}")]
    LineTooLong { len: usize, max: usize, excerpt: String },
    /// The line has more words than the protocol maximum.
    #[error("{keyword} line has more than {max} words: {excerpt:?}")]
    TooManyWords { keyword: String, max: usize, excerpt: String },
}

/// A lossy, length-bounded copy of `line` for error messages.
pub fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(EXCERPT_LEN)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > EXCERPT_LEN {
        s.push('…');
    }
    s
}

#[inline]
fn text(w: &[u8]) -> Text<'_> {
    // `from_utf8` has a word-at-a-time ASCII fast path; the lossy conversion only on failure
    match std::str::from_utf8(w) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(w),
    }
}

/// Per-line parsing context: the word iterator plus what errors need.
struct Ctx<'a> {
    line: &'a [u8],
    words: Words<'a>,
    keyword: &'static str,
}

impl<'a> Ctx<'a> {
    #[cold]
    fn malformed(&self, reason: &'static str) -> ParseError {
        ParseError::Malformed { keyword: self.keyword, reason, excerpt: excerpt(self.line) }
    }
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        self.words.next()
    }
    #[inline]
    fn req(&mut self, reason: &'static str) -> Result<&'a [u8], ParseError> {
        match self.words.next() {
            Some(w) => Ok(w),
            None => Err(self.malformed(reason)),
        }
    }
    /// Required non-empty word.
    #[inline]
    fn req_nonempty(&mut self, reason: &'static str) -> Result<&'a [u8], ParseError> {
        match self.words.next() {
            Some(w) if !w.is_empty() => Ok(w),
            _ => Err(self.malformed(reason)),
        }
    }
    #[inline]
    fn u64_of(&self, w: &[u8], reason: &'static str) -> Result<u64, ParseError> {
        parse_u64(w).ok_or_else(|| self.malformed(reason))
    }
    #[inline]
    fn i64_of(&self, w: &[u8], reason: &'static str) -> Result<i64, ParseError> {
        parse_i64(w).ok_or_else(|| self.malformed(reason))
    }
    /// Optional signed integer: absent or empty → `default`.
    #[inline]
    fn opt_i64(&mut self, default: i64, reason: &'static str) -> Result<i64, ParseError> {
        match self.words.next() {
            None => Ok(default),
            Some([]) => Ok(default),
            Some(w) => self.i64_of(w, reason),
        }
    }
    /// Optional text word: absent → empty.
    #[inline]
    fn opt_text(&mut self) -> Text<'a> {
        text(self.words.next().unwrap_or(b""))
    }
    /// Refuses lines with more than `MAX_WORDS` words (only counted when words remain).
    #[inline]
    fn finish(&self) -> Result<(), ParseError> {
        let rest = self.words.rest();
        if rest.iter().all(|&c| is_separator(c)) {
            return Ok(());
        }
        if Words::new(self.line).count() > MAX_WORDS {
            return Err(ParseError::TooManyWords {
                keyword: self.keyword.to_owned(),
                max: MAX_WORDS,
                excerpt: excerpt(self.line),
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// encoding helpers

/// Appends `"s"`; bytes that would break the tokenizer (`"`, CR, LF, NUL, a trailing `\`) are
/// replaced, since Netdata has no escaping.
fn put_quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        out.push(match c {
            b'"' => b'\'',
            b'\r' | b'\n' | 0 => b' ',
            b'\\' if i + 1 == b.len() => b'/',
            _ => c,
        });
    }
    out.push(b'"');
}

/// Appends an unquoted word; separators and quotes are replaced by `_` so it stays one word.
fn put_bare(out: &mut Vec<u8>, s: &str) {
    if s.is_empty() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let bad = is_separator(c) || c == 0 || (i == 0 && (c == b'"' || c == b'\''));
        out.push(if bad { b'_' } else { c });
    }
}

#[inline]
fn sp(out: &mut Vec<u8>) {
    out.push(b' ');
}

// ---------------------------------------------------------------------------------------------
// child → parent commands

/// `CLAIMED_ID <machine_guid> <claim_id|NULL>` (CLAIM) — both unquoted; both must be UUIDs
/// (`NULL` = not claimed). Capture: `CLAIMED_ID c325f67c-e903-11f1-a751-02fc00000001 NULL`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedId<'a> {
    pub machine_guid: Text<'a>,
    /// `None` when the child sent `NULL`.
    pub claim_id: Option<Text<'a>>,
}

impl<'a> ClaimedId<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let guid = c.req_nonempty("missing machine guid")?;
        let claim = c.req_nonempty("missing claim id")?;
        if !is_uuid(guid) {
            return Err(c.malformed("machine guid is not a UUID"));
        }
        let claim_id = if claim == b"NULL" {
            None
        } else if is_uuid(claim) {
            Some(text(claim))
        } else {
            return Err(c.malformed("claim id is neither a UUID nor NULL"));
        };
        Ok(ClaimedId { machine_guid: text(guid), claim_id })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CLAIMED_ID ");
        put_bare(out, &self.machine_guid);
        sp(out);
        put_bare(out, self.claim_id.as_deref().unwrap_or("NULL"));
    }
}

fn is_uuid(w: &[u8]) -> bool {
    std::str::from_utf8(w).is_ok_and(|s| uuid::Uuid::try_parse(s).is_ok())
}

/// `LABEL "<name>" = <source> "<value>"` (HLABELS) — adds to the pending host label set.
/// `source` bits: 1 AUTO, 2 CONFIG, 4 K8S, 8 ACLK, 1<<29 PERMANENT. A value sent as several
/// unquoted words is re-joined with single spaces. Capture: `LABEL "_is_ephemeral" = 2 "false"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Label<'a> {
    pub name: Text<'a>,
    pub source: u32,
    pub value: Text<'a>,
}

impl<'a> Label<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let name = c.req("missing label name")?;
        let source = c.req("missing label source")?;
        let value = c.req("missing label value")?;
        let source = u32::try_from(c.u64_of(source, "label source is not a number")?)
            .map_err(|_| c.malformed("label source out of range"))?;
        let value = if c.words.rest().iter().all(|&b| is_separator(b)) {
            text(value)
        } else {
            // Netdata joins words 3.. with single spaces (within the 20-word limit)
            let mut joined = String::from_utf8_lossy(value).into_owned();
            for w in c.words.clone().take(MAX_WORDS.saturating_sub(4)) {
                joined.push(' ');
                joined.push_str(&String::from_utf8_lossy(w));
            }
            Cow::Owned(joined)
        };
        c.finish()?;
        Ok(Label { name: text(name), source, value })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"LABEL ");
        put_quoted(out, &self.name);
        out.extend_from_slice(b" = ");
        put_u64(out, u64::from(self.source));
        sp(out);
        put_quoted(out, &self.value);
    }
}

/// `OVERWRITE labels` (HLABELS) — replaces the host labels with the pending set; the argument is
/// ignored by the parent (a 1.37.1 child always sends `labels`).
#[derive(Debug, Clone, PartialEq)]
pub struct Overwrite<'a> {
    pub what: Text<'a>,
}

impl<'a> Overwrite<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        Ok(Overwrite { what: text(c.next().unwrap_or(b"labels")) })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"OVERWRITE ");
        put_bare(out, &self.what);
    }
}

/// Scope word of a `VARIABLE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableScope {
    /// `GLOBAL` or `HOST` (the parser treats them alike; [`Self::Host`] is what senders write).
    Global,
    Host,
    /// `LOCAL` or `CHART`.
    Local,
    Chart,
}

impl VariableScope {
    fn parse(w: &[u8]) -> Option<Self> {
        match w {
            b"GLOBAL" => Some(Self::Global),
            b"HOST" => Some(Self::Host),
            b"LOCAL" => Some(Self::Local),
            b"CHART" => Some(Self::Chart),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "GLOBAL",
            Self::Host => "HOST",
            Self::Local => "LOCAL",
            Self::Chart => "CHART",
        }
    }
    /// True for host-level scopes.
    pub fn is_host(self) -> bool {
        matches!(self, Self::Global | Self::Host)
    }
}

/// `VARIABLE [GLOBAL|HOST|LOCAL|CHART] <name> [=] <value>` — a custom variable, value `%0.7f`.
/// Without a scope word it is chart-scoped if a chart is current, else host-scoped. An empty or
/// missing value is ignored by the parent (`value == None`). Parsed with Netdata's fast double
/// parser (only lowercase `nan`/`inf`). Capture: `VARIABLE HOST active_processors = 2.0000000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable<'a> {
    pub scope: Option<VariableScope>,
    pub name: Text<'a>,
    pub value: Option<f64>,
}

impl<'a> Variable<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let first = c.req_nonempty("missing variable name")?;
        let (scope, name) = match VariableScope::parse(first) {
            Some(s) => (Some(s), c.req_nonempty("missing variable name")?),
            None => (None, first),
        };
        let value = match c.next() {
            None => None,
            Some([]) => None,
            Some(w) => Some(parse_ndd(w).ok_or_else(|| c.malformed("value is not a number"))?),
        };
        c.finish()?;
        Ok(Variable { scope, name: text(name), value })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"VARIABLE ");
        if let Some(s) = self.scope {
            out.extend_from_slice(s.as_str().as_bytes());
            sp(out);
        }
        put_bare(out, &self.name);
        out.extend_from_slice(b" = ");
        if let Some(v) = self.value {
            put_f7(out, v, b"nan");
        }
    }
}

/// `CHART "<type.id>" "<name>" "<title>" "<units>" "<family>" "<context>" "<charttype>"
/// <priority> <update_every> "<options>" "<plugin>" "<module>"` — starts a chart definition
/// block and makes the chart current. `name` is `""` when equal to the id; `options` is always
/// four space-joined words (`obsolete detail store_first hidden`, each possibly empty), e.g.
/// `"   "`. Missing trailing fields take defaults (priority 1000, update_every 0 = parent's).
/// Capture: `CHART "system.load" "" "System Load Average" "load" "load" "system.load" "line" 100
/// 5 "   " "proc.plugin" "/proc/loadavg"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart<'a> {
    /// Full `type.id`; always contains a `.` with non-empty parts on both sides.
    pub id: Text<'a>,
    pub name: Text<'a>,
    pub title: Text<'a>,
    pub units: Text<'a>,
    pub family: Text<'a>,
    pub context: Text<'a>,
    pub chart_type: Text<'a>,
    pub priority: i64,
    pub update_every: i64,
    pub options: Text<'a>,
    pub plugin: Text<'a>,
    pub module: Text<'a>,
}

impl<'a> Chart<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing chart id")?;
        match id.iter().position(|&b| b == b'.') {
            Some(p) if p > 0 && p + 1 < id.len() => {}
            _ => return Err(c.malformed("chart id is not type.id")),
        }
        let name = c.opt_text();
        let title = c.opt_text();
        let units = c.opt_text();
        let family = c.opt_text();
        let context = c.opt_text();
        let chart_type = c.opt_text();
        let priority = c.opt_i64(1000, "priority is not a number")?;
        let update_every = c.opt_i64(0, "update_every is not a number")?;
        let options = c.opt_text();
        let plugin = c.opt_text();
        let module = c.opt_text();
        c.finish()?;
        Ok(Chart {
            id: text(id),
            name,
            title,
            units,
            family,
            context,
            chart_type,
            priority,
            update_every,
            options,
            plugin,
            module,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CHART ");
        for f in [
            &self.id,
            &self.name,
            &self.title,
            &self.units,
            &self.family,
            &self.context,
            &self.chart_type,
        ] {
            put_quoted(out, f);
            sp(out);
        }
        put_i64(out, self.priority);
        sp(out);
        put_i64(out, self.update_every);
        sp(out);
        put_quoted(out, &self.options);
        sp(out);
        put_quoted(out, &self.plugin);
        sp(out);
        put_quoted(out, &self.module);
    }
    /// The part before the first `.`.
    pub fn type_part(&self) -> &str {
        self.id.split_once('.').map_or(&*self.id, |(t, _)| t)
    }
    /// The part after the first `.`.
    pub fn id_part(&self) -> &str {
        self.id.split_once('.').map_or("", |(_, i)| i)
    }
    /// Whether an option word is present (substring search, as Netdata does).
    pub fn has_option(&self, word: &str) -> bool {
        self.options.contains(word)
    }
    /// Builds the 4-word options field a 1.37.1 sender writes.
    pub fn options_field(obsolete: bool, detail: bool, store_first: bool, hidden: bool) -> String {
        let w = |on: bool, s: &'static str| if on { s } else { "" };
        format!(
            "{} {} {} {}",
            w(obsolete, "obsolete"),
            w(detail, "detail"),
            w(store_first, "store_first"),
            w(hidden, "hidden")
        )
    }
}

/// `CLABEL "<name>" "<value>" <source>` (CLABELS) — a chart label of the current chart; all
/// three words are mandatory (a 1.37.1 parent crashes without the source).
/// Capture: `CLABEL "_collect_plugin" "diskspace.plugin" 536870913`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clabel<'a> {
    pub name: Text<'a>,
    pub value: Text<'a>,
    pub source: u32,
}

impl<'a> Clabel<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let name = c.req_nonempty("missing label name")?;
        let value = c.req("missing label value")?;
        let source = c.req_nonempty("missing label source")?;
        let source = u32::try_from(c.u64_of(source, "label source is not a number")?)
            .map_err(|_| c.malformed("label source out of range"))?;
        c.finish()?;
        Ok(Clabel { name: text(name), value: text(value), source })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CLABEL ");
        put_quoted(out, &self.name);
        sp(out);
        put_quoted(out, &self.value);
        sp(out);
        put_u64(out, u64::from(self.source));
    }
}

/// `DIMENSION "<id>" "<name>" "<algorithm>" <multiplier> <divisor> "<options>"` — a dimension
/// of the current chart. Options are three space-joined words (`obsolete hidden noreset`),
/// usually `"  "`. Multiplier/divisor default to 1 (0 also means 1 on the parent).
/// Capture: `DIMENSION "idle" "idle" "percentage-of-incremental-row" 1 1 " hidden "`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension<'a> {
    pub id: Text<'a>,
    pub name: Text<'a>,
    pub algorithm: Text<'a>,
    pub multiplier: i64,
    pub divisor: i64,
    pub options: Text<'a>,
}

impl<'a> Dimension<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing dimension id")?;
        let name = c.opt_text();
        let algorithm = c.opt_text();
        let multiplier = c.opt_i64(1, "multiplier is not a number")?;
        let divisor = c.opt_i64(1, "divisor is not a number")?;
        let options = c.opt_text();
        c.finish()?;
        Ok(Dimension { id: text(id), name, algorithm, multiplier, divisor, options })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"DIMENSION ");
        put_quoted(out, &self.id);
        sp(out);
        put_quoted(out, &self.name);
        sp(out);
        put_quoted(out, &self.algorithm);
        sp(out);
        put_i64(out, self.multiplier);
        sp(out);
        put_i64(out, self.divisor);
        sp(out);
        put_quoted(out, &self.options);
    }
    /// Whether an option word is present (substring search, as Netdata does).
    pub fn has_option(&self, word: &str) -> bool {
        self.options.contains(word)
    }
    /// Builds the 3-word options field a 1.37.1 sender writes.
    pub fn options_field(obsolete: bool, hidden: bool, noreset: bool) -> String {
        let w = |on: bool, s: &'static str| if on { s } else { "" };
        format!("{} {} {}", w(obsolete, "obsolete"), w(hidden, "hidden"), w(noreset, "noreset"))
    }
}

/// `FUNCTION [GLOBAL] "<name>" <timeout_s> "<help>"` (FUNCTIONS, child → parent) — declares a
/// function of the current chart (or of the host with `GLOBAL`).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef<'a> {
    pub global: bool,
    pub name: Text<'a>,
    pub timeout_s: i64,
    pub help: Text<'a>,
}

impl<'a> FunctionDef<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let mut first = c.req_nonempty("missing function name")?;
        let global = first == b"GLOBAL";
        if global {
            first = c.req_nonempty("missing function name")?;
        }
        let t = c.req_nonempty("missing function timeout")?;
        let timeout_s = c.i64_of(t, "timeout is not a number")?;
        let help = c.opt_text();
        c.finish()?;
        Ok(FunctionDef { global, name: text(first), timeout_s, help })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"FUNCTION ");
        if self.global {
            out.extend_from_slice(b"GLOBAL ");
        }
        put_quoted(out, &self.name);
        sp(out);
        put_i64(out, self.timeout_s);
        sp(out);
        put_quoted(out, &self.help);
    }
}

/// `CHART_DEFINITION_END <first_entry_s> <last_entry_s> <child_now_s>` (REPLICATION) — the
/// child's retention for the current chart and its wall clock; the parent answers with a
/// `REPLAY_CHART`. Capture: `CHART_DEFINITION_END 1795633827 1795633847 1795633847`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartDefinitionEnd {
    pub first_entry: i64,
    pub last_entry: i64,
    pub child_now: i64,
}

impl ChartDefinitionEnd {
    fn parse(c: &mut Ctx<'_>) -> Result<Self, ParseError> {
        let a = c.req_nonempty("missing first entry")?;
        let b = c.req_nonempty("missing last entry")?;
        let n = c.req_nonempty("missing child wall clock")?;
        let r = ChartDefinitionEnd {
            first_entry: c.i64_of(a, "first entry is not a number")?,
            last_entry: c.i64_of(b, "last entry is not a number")?,
            child_now: c.i64_of(n, "child wall clock is not a number")?,
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CHART_DEFINITION_END ");
        put_i64(out, self.first_entry);
        sp(out);
        put_i64(out, self.last_entry);
        sp(out);
        put_i64(out, self.child_now);
    }
}

/// `BEGIN "<type.id>" <usec>` — starts a live sample of a chart; `usec` = microseconds since the
/// chart's previous collection on the child (`0` = "use your clock"; absent = 0).
/// Capture: `BEGIN "system.cpu" 1000026`.
#[derive(Debug, Clone, PartialEq)]
pub struct Begin<'a> {
    pub id: Text<'a>,
    pub microseconds: u64,
}

impl<'a> Begin<'a> {
    #[inline]
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing chart id")?;
        let microseconds = match c.next() {
            None => 0,
            Some([]) => 0,
            Some(w) => c.u64_of(w, "microseconds is not a number")?,
        };
        c.finish()?;
        Ok(Begin { id: text(id), microseconds })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"BEGIN ");
        put_quoted(out, &self.id);
        sp(out);
        put_u64(out, self.microseconds);
    }
}

/// `SET "<dim id>" = <int64>` — the raw collected value of a dimension of the current chart.
/// Parsed like C `strtoll(.., 0)` (base auto-detection: `010` = 8, `0x10` = 16). An empty value
/// (`SET "x" =` or `""`) leaves the dimension unset (`value == None`).
/// Capture: `SET "avail" = 3083623`.
#[derive(Debug, Clone, PartialEq)]
pub struct Set<'a> {
    pub id: Text<'a>,
    pub value: Option<i64>,
}

impl<'a> Set<'a> {
    #[inline]
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing dimension id")?;
        let value = match c.next() {
            None => None,
            Some([]) => None,
            Some(w) => Some(parse_strtoll(w).ok_or_else(|| c.malformed("value is not an integer"))?),
        };
        c.finish()?;
        Ok(Set { id: text(id), value })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"SET ");
        put_quoted(out, &self.id);
        out.extend_from_slice(b" = ");
        if let Some(v) = self.value {
            put_i64(out, v);
        }
    }
}

/// Timestamps of a data-carrying `RBEGIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RbeginSpan {
    pub start: i64,
    pub end: i64,
    /// The child's wall clock (optional on the parent).
    pub child_now: Option<i64>,
}

/// `RBEGIN "<type.id>"` (selects the chart of a replication reply) or
/// `RBEGIN '' <start_s> <end_s> <child_now_s>` (one stored point of the current chart; the
/// sender writes the empty id in single quotes). Capture: `RBEGIN '' 1795633847 1795633848
/// 1795633848`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rbegin<'a> {
    /// Empty = the current chart.
    pub id: Text<'a>,
    pub span: Option<RbeginSpan>,
}

impl<'a> Rbegin<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req("missing chart id")?;
        let span = match (c.next(), c.next()) {
            (Some(s), Some(e)) if !s.is_empty() && !e.is_empty() => {
                let start = c.i64_of(s, "start time is not a number")?;
                let end = c.i64_of(e, "end time is not a number")?;
                let child_now = match c.next() {
                    Some(n) if !n.is_empty() => Some(c.i64_of(n, "wall clock is not a number")?),
                    _ => None,
                };
                Some(RbeginSpan { start, end, child_now })
            }
            _ => None,
        };
        c.finish()?;
        Ok(Rbegin { id: text(id), span })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"RBEGIN ");
        if self.id.is_empty() {
            out.extend_from_slice(b"''");
        } else {
            put_quoted(out, &self.id);
        }
        if let Some(s) = self.span {
            sp(out);
            put_i64(out, s.start);
            sp(out);
            put_i64(out, s.end);
            if let Some(n) = s.child_now {
                sp(out);
                put_i64(out, n);
            }
        }
    }
}

/// `RSET "<dim id>" <value> "<flags>"` — a *stored* value (chart units) at the current
/// `RBEGIN`'s end time, `%0.7f`; gaps are `NAN "E"`. flags: `""` normal, `"R"` reset, `"E"`
/// empty. Parsed like C `strtod`; an empty value or a non-number is a gap (NaN), as Netdata does.
/// Capture: `RSET "user" 9.4310010 ""`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rset<'a> {
    pub id: Text<'a>,
    pub value: f64,
    pub flags: Text<'a>,
}

impl<'a> Rset<'a> {
    #[inline]
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing dimension id")?;
        let value = c.next().and_then(parse_f64).unwrap_or(f64::NAN);
        let flags = c.opt_text();
        c.finish()?;
        Ok(Rset { id: text(id), value, flags })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"RSET ");
        put_quoted(out, &self.id);
        sp(out);
        // the sender writes the literal `NAN "E"` for an empty slot, `%0.7f` (`nan`) otherwise
        put_f7(out, self.value, if self.flags.contains('E') { b"NAN" } else { b"nan" });
        sp(out);
        put_quoted(out, &self.flags);
    }
    /// `E` flag or NaN value: an empty slot.
    pub fn is_empty_slot(&self) -> bool {
        self.value.is_nan() || self.flags.contains('E')
    }
    /// `R` flag: a counter reset/overflow.
    pub fn is_reset(&self) -> bool {
        self.flags.contains('R')
    }
}

/// `RDSTATE "<dim id>" <last_collected_usec> <last_collected_int> <last_calculated>
/// <last_stored>` — dimension collection state after replication (µs since epoch, raw int, two
/// `%0.7f`; NaN prints `nan`). Capture: `RDSTATE "user" 1795633848000209 30232 0.0039987
/// 9.4310013`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rdstate<'a> {
    pub id: Text<'a>,
    pub last_collected_us: u64,
    pub last_collected_value: i64,
    pub last_calculated_value: f64,
    pub last_stored_value: f64,
}

impl<'a> Rdstate<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing dimension id")?;
        let a = c.req_nonempty("missing last collected time")?;
        let b = c.req_nonempty("missing last collected value")?;
        let d = c.req_nonempty("missing last calculated value")?;
        let e = c.req_nonempty("missing last stored value")?;
        let r = Rdstate {
            id: text(id),
            last_collected_us: c.u64_of(a, "last collected time is not a number")?,
            last_collected_value: parse_strtoll(b)
                .ok_or_else(|| c.malformed("last collected value is not an integer"))?,
            last_calculated_value: parse_ndd(d)
                .ok_or_else(|| c.malformed("last calculated value is not a number"))?,
            last_stored_value: parse_ndd(e)
                .ok_or_else(|| c.malformed("last stored value is not a number"))?,
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"RDSTATE ");
        put_quoted(out, &self.id);
        sp(out);
        put_u64(out, self.last_collected_us);
        sp(out);
        put_i64(out, self.last_collected_value);
        sp(out);
        put_f7(out, self.last_calculated_value, b"nan");
        sp(out);
        put_f7(out, self.last_stored_value, b"nan");
    }
}

/// `RSSTATE <last_collected_usec> <last_updated_usec>` — chart collection state after
/// replication. Capture: `RSSTATE 1795633848000212 1795633848000000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsstate {
    pub last_collected_us: u64,
    pub last_updated_us: u64,
}

impl Rsstate {
    fn parse(c: &mut Ctx<'_>) -> Result<Self, ParseError> {
        let a = c.req_nonempty("missing last collected time")?;
        let b = c.req_nonempty("missing last updated time")?;
        let r = Rsstate {
            last_collected_us: c.u64_of(a, "last collected time is not a number")?,
            last_updated_us: c.u64_of(b, "last updated time is not a number")?,
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"RSSTATE ");
        put_u64(out, self.last_collected_us);
        sp(out);
        put_u64(out, self.last_updated_us);
    }
}

/// `REND <update_every> <child_first_s> <child_last_s> <true|false> <after> <before>
/// <child_now_s>` — ends a replication reply; `true` = the chart now streams live. At least six
/// arguments (the parent disconnects otherwise); the wall clock is optional.
/// Capture: `REND 5 1795633830 1795633845 true 1795633835 1795633845 1795633847`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rend {
    pub update_every: i64,
    pub first_entry_child: i64,
    pub last_entry_child: i64,
    pub start_streaming: bool,
    pub after: i64,
    pub before: i64,
    pub child_now: Option<i64>,
}

impl Rend {
    fn parse(c: &mut Ctx<'_>) -> Result<Self, ParseError> {
        const SHORT: &str = "needs at least 6 arguments";
        let ue = c.req_nonempty(SHORT)?;
        let first = c.req_nonempty(SHORT)?;
        let last = c.req_nonempty(SHORT)?;
        let streaming = c.req_nonempty(SHORT)?;
        let after = c.req_nonempty(SHORT)?;
        let before = c.req_nonempty(SHORT)?;
        let r = Rend {
            update_every: c.i64_of(ue, "update_every is not a number")?,
            first_entry_child: c.i64_of(first, "child first entry is not a number")?,
            last_entry_child: c.i64_of(last, "child last entry is not a number")?,
            start_streaming: streaming == b"true",
            after: c.i64_of(after, "after is not a number")?,
            before: c.i64_of(before, "before is not a number")?,
            child_now: match c.next() {
                Some(w) if !w.is_empty() => Some(c.i64_of(w, "wall clock is not a number")?),
                _ => None,
            },
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"REND ");
        for v in [self.update_every, self.first_entry_child, self.last_entry_child] {
            put_i64(out, v);
            sp(out);
        }
        out.extend_from_slice(if self.start_streaming { b"true " } else { b"false " });
        put_i64(out, self.after);
        sp(out);
        put_i64(out, self.before);
        if let Some(n) = self.child_now {
            sp(out);
            put_i64(out, n);
        }
    }
}

/// `FUNCTION_RESULT_BEGIN "<transaction>" <http_code> "<content type>" <expires_s>` — starts a
/// function result; the payload lines that follow are copied verbatim up to a line whose first
/// word is `FUNCTION_RESULT_END` (see [`FunctionResultBody`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionResultBegin<'a> {
    pub transaction: Text<'a>,
    pub code: i64,
    pub content_type: Text<'a>,
    pub expires: i64,
}

impl<'a> FunctionResultBegin<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let tr = c.req_nonempty("missing transaction")?;
        let code = c.opt_i64(0, "code is not a number")?;
        let content_type = c.opt_text();
        let expires = c.opt_i64(0, "expires is not a number")?;
        c.finish()?;
        Ok(FunctionResultBegin { transaction: text(tr), code, content_type, expires })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"FUNCTION_RESULT_BEGIN ");
        put_quoted(out, &self.transaction);
        sp(out);
        put_i64(out, self.code);
        sp(out);
        put_quoted(out, &self.content_type);
        sp(out);
        put_i64(out, self.expires);
    }
}

/// A line a child sends to a parent (spec §5). `Command::parse` is what the parent's receiver
/// loop calls for every line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// An empty line or one made only of separators: ignore it.
    Blank,
    ClaimedId(ClaimedId<'a>),
    Label(Label<'a>),
    Overwrite(Overwrite<'a>),
    Variable(Variable<'a>),
    /// Boxed: the largest variant, rare on the wire; keeps `Command` small for SET/BEGIN.
    Chart(Box<Chart<'a>>),
    Clabel(Clabel<'a>),
    /// `CLABEL_COMMIT` — applies the chart labels sent since the CHART.
    ClabelCommit,
    /// Boxed for the same reason as [`Command::Chart`].
    Dimension(Box<Dimension<'a>>),
    Function(FunctionDef<'a>),
    ChartDefinitionEnd(ChartDefinitionEnd),
    Begin(Begin<'a>),
    Set(Set<'a>),
    /// `END` — completes a live sample.
    End,
    Rbegin(Rbegin<'a>),
    Rset(Rset<'a>),
    Rdstate(Rdstate<'a>),
    Rsstate(Rsstate),
    Rend(Rend),
    FunctionResultBegin(FunctionResultBegin<'a>),
    /// `FUNCTION_RESULT_END` — only meaningful inside a function result.
    FunctionResultEnd,
    /// `FLUSH` — clears the current chart / replay state.
    Flush,
    /// `DISABLE` — the parent disconnects.
    Disable,
}

impl<'a> Command<'a> {
    /// Parses one line (with or without its trailing `\n`/`\r\n`).
    #[inline]
    pub fn parse(line: &'a [u8]) -> Result<Command<'a>, ParseError> {
        if line.len() > MAX_LINE_LEN {
            return Err(ParseError::LineTooLong {
                len: line.len(),
                max: MAX_LINE_LEN,
                excerpt: excerpt(line),
            });
        }
        if let Some(rest) = line.strip_prefix(b"SET \"") {
            if let Some(cmd) = fast_set(rest) {
                return Ok(cmd);
            }
        } else if let Some(rest) = line.strip_prefix(b"RSET \"") {
            if let Some(r) = fast_rset(rest) {
                return Ok(Command::Rset(r));
            }
        }
        Self::parse_tokenized(line)
    }

    /// [`Command::parse`] without the fast paths of the most frequent shapes (`SET`, `RSET`):
    /// every line through the tokenizer.
    #[inline]
    fn parse_tokenized(line: &'a [u8]) -> Result<Command<'a>, ParseError> {
        let mut words = Words::new(line);
        let Some(kw) = words.next() else {
            return Ok(Command::Blank);
        };
        let mut c = Ctx { line, words, keyword: "" };
        macro_rules! with {
            ($name:literal, $e:expr) => {{
                c.keyword = $name;
                $e
            }};
        }
        Ok(match kw {
            b"SET" => with!("SET", Command::Set(Set::parse(&mut c)?)),
            b"BEGIN" => with!("BEGIN", Command::Begin(Begin::parse(&mut c)?)),
            b"END" => with!("END", {
                c.finish()?;
                Command::End
            }),
            b"RSET" => with!("RSET", Command::Rset(Rset::parse(&mut c)?)),
            b"RBEGIN" => with!("RBEGIN", Command::Rbegin(Rbegin::parse(&mut c)?)),
            b"RDSTATE" => with!("RDSTATE", Command::Rdstate(Rdstate::parse(&mut c)?)),
            b"RSSTATE" => with!("RSSTATE", Command::Rsstate(Rsstate::parse(&mut c)?)),
            b"REND" => with!("REND", Command::Rend(Rend::parse(&mut c)?)),
            b"CHART" => with!("CHART", Command::Chart(Box::new(Chart::parse(&mut c)?))),
            b"DIMENSION" => {
                with!("DIMENSION", Command::Dimension(Box::new(Dimension::parse(&mut c)?)))
            }
            b"CLABEL" => with!("CLABEL", Command::Clabel(Clabel::parse(&mut c)?)),
            b"CLABEL_COMMIT" => with!("CLABEL_COMMIT", {
                c.finish()?;
                Command::ClabelCommit
            }),
            b"CHART_DEFINITION_END" => with!(
                "CHART_DEFINITION_END",
                Command::ChartDefinitionEnd(ChartDefinitionEnd::parse(&mut c)?)
            ),
            b"VARIABLE" => with!("VARIABLE", Command::Variable(Variable::parse(&mut c)?)),
            b"LABEL" => with!("LABEL", Command::Label(Label::parse(&mut c)?)),
            b"OVERWRITE" => with!("OVERWRITE", Command::Overwrite(Overwrite::parse(&mut c)?)),
            b"CLAIMED_ID" => with!("CLAIMED_ID", Command::ClaimedId(ClaimedId::parse(&mut c)?)),
            b"FUNCTION" => with!("FUNCTION", Command::Function(FunctionDef::parse(&mut c)?)),
            b"FUNCTION_RESULT_BEGIN" => with!(
                "FUNCTION_RESULT_BEGIN",
                Command::FunctionResultBegin(FunctionResultBegin::parse(&mut c)?)
            ),
            b"FUNCTION_RESULT_END" => Command::FunctionResultEnd,
            b"FLUSH" => Command::Flush,
            b"DISABLE" => Command::Disable,
            other => {
                return Err(ParseError::UnknownKeyword {
                    keyword: excerpt(&other[..other.len().min(64)]),
                    excerpt: excerpt(line),
                })
            }
        })
    }

    /// Appends the line exactly as a 1.37.1 sender writes it, with its `\n`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Command::Blank => {}
            Command::ClaimedId(x) => x.encode(out),
            Command::Label(x) => x.encode(out),
            Command::Overwrite(x) => x.encode(out),
            Command::Variable(x) => x.encode(out),
            Command::Chart(x) => x.encode(out),
            Command::Clabel(x) => x.encode(out),
            Command::ClabelCommit => out.extend_from_slice(b"CLABEL_COMMIT"),
            Command::Dimension(x) => x.encode(out),
            Command::Function(x) => x.encode(out),
            Command::ChartDefinitionEnd(x) => x.encode(out),
            Command::Begin(x) => x.encode(out),
            Command::Set(x) => x.encode(out),
            Command::End => out.extend_from_slice(b"END"),
            Command::Rbegin(x) => x.encode(out),
            Command::Rset(x) => x.encode(out),
            Command::Rdstate(x) => x.encode(out),
            Command::Rsstate(x) => x.encode(out),
            Command::Rend(x) => x.encode(out),
            Command::FunctionResultBegin(x) => x.encode(out),
            Command::FunctionResultEnd => out.extend_from_slice(b"FUNCTION_RESULT_END"),
            Command::Flush => out.extend_from_slice(b"FLUSH"),
            Command::Disable => out.extend_from_slice(b"DISABLE"),
        }
        out.push(b'\n');
    }

    /// The keyword as written on the wire (`""` for [`Command::Blank`]).
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Blank => "",
            Command::ClaimedId(_) => "CLAIMED_ID",
            Command::Label(_) => "LABEL",
            Command::Overwrite(_) => "OVERWRITE",
            Command::Variable(_) => "VARIABLE",
            Command::Chart(_) => "CHART",
            Command::Clabel(_) => "CLABEL",
            Command::ClabelCommit => "CLABEL_COMMIT",
            Command::Dimension(_) => "DIMENSION",
            Command::Function(_) => "FUNCTION",
            Command::ChartDefinitionEnd(_) => "CHART_DEFINITION_END",
            Command::Begin(_) => "BEGIN",
            Command::Set(_) => "SET",
            Command::End => "END",
            Command::Rbegin(_) => "RBEGIN",
            Command::Rset(_) => "RSET",
            Command::Rdstate(_) => "RDSTATE",
            Command::Rsstate(_) => "RSSTATE",
            Command::Rend(_) => "REND",
            Command::FunctionResultBegin(_) => "FUNCTION_RESULT_BEGIN",
            Command::FunctionResultEnd => "FUNCTION_RESULT_END",
            Command::Flush => "FLUSH",
            Command::Disable => "DISABLE",
        }
    }
}

/// The shape every sender writes, `SET "<id>" = <int>`, without the general tokenizer.
/// `None` = not that simple shape (escapes, quotes in odd places, bad numbers, extra words):
/// the caller then takes the general path, which gives the same result or the precise error.
#[inline(always)]
fn fast_set(rest: &[u8]) -> Option<Command<'_>> {
    let (id, value) = set_parts(rest)?;
    Some(Command::Set(Set { id: text(id), value }))
}

/// `SET "<id>" = <int>` (or an empty value) split without the general tokenizer, without
/// copying and without a UTF-8 check of the id; `rest` is what follows `SET "`. `None` for any
/// other shape (escapes, quotes in odd places, a value that is not a whole integer, extra
/// words): the general parser then decides. Wherever this gives `Some((id, value))`,
/// [`Command::parse`] gives a `SET` with that id (after the UTF-8 conversion of the bytes) and
/// value; the length limit ([`MAX_LINE_LEN`]) is the caller's.
#[inline(always)]
pub fn set_parts(rest: &[u8]) -> Option<(&[u8], Option<i64>)> {
    let k = super::tokenizer::find_quote_or_backslash(rest, b'"')?;
    if rest[k] != b'"' || k == 0 {
        return None;
    }
    let id = &rest[..k];
    let tail = &rest[k + 1..];
    let mut i = 0;
    while i < tail.len() && is_separator(tail[i]) {
        i += 1;
    }
    let start = i;
    while i < tail.len() && !is_separator(tail[i]) {
        i += 1;
    }
    let word = &tail[start..i];
    if !tail[i..].iter().all(|&b| is_separator(b)) {
        return None;
    }
    let value = match word.first() {
        None => None,
        Some(b'"' | b'\'') => return None,
        Some(_) if word.contains(&b'\\') => return None,
        Some(_) => Some(parse_strtoll(word)?),
    };
    Some((id, value))
}

/// `BEGIN "<id>" <usec>` (or without `<usec>`) in exactly the shape a 1.37.1 sender writes it
/// (the id quoted, without backslashes; one space; the microseconds as plain digits; nothing
/// after them), without the general tokenizer and without a UTF-8 check of the id; `rest` is
/// what follows `BEGIN "`. `None` for any other shape: the general parser then decides.
/// Wherever this gives `Some((id, usec))`, [`Command::parse`] gives a `BEGIN` with that id
/// (after the UTF-8 conversion of the bytes) and microseconds.
#[inline(always)]
pub fn begin_parts(rest: &[u8]) -> Option<(&[u8], u64)> {
    let k = super::tokenizer::find_quote_or_backslash(rest, b'"')?;
    if rest[k] != b'"' || k == 0 {
        return None;
    }
    let usec = match &rest[k + 1..] {
        [] => 0,
        [b' ', digits @ ..] => parse_u64(digits)?,
        _ => return None,
    };
    Some((&rest[..k], usec))
}

/// The raw words of an `RSET` line in its usual shape (see [`rset_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsetParts<'a> {
    /// The dimension id between the quotes (non-empty, no backslash; not checked for UTF-8).
    pub id: &'a [u8],
    /// The value word (not empty, not quoted, no backslash); parse it with [`parse_f64`]
    /// (not a number → a gap, as [`Rset::parse`] does).
    pub value: &'a [u8],
    /// The flags between their quotes (possibly empty; not checked for UTF-8).
    pub flags: &'a [u8],
}

/// `RSET` in its usual shape, `RSET "<id>" <value> "<flags>"` (the flags quoted, possibly
/// empty, or absent), split without the general tokenizer, without copying and without UTF-8
/// checks; `rest` is what follows `RSET "`. `None` for any other shape (backslashes, quoted or
/// missing value, unquoted flags, more words): the general parser then decides. Wherever this
/// gives `Some`, [`Command::parse`] gives an `RSET` with the same id, value and flags (after
/// the UTF-8 conversion of the bytes); the length limit ([`MAX_LINE_LEN`]) is the caller's.
#[inline]
pub fn rset_parts(rest: &[u8]) -> Option<RsetParts<'_>> {
    use super::tokenizer::find_quote_or_backslash;
    let k = find_quote_or_backslash(rest, b'"')?;
    if rest[k] != b'"' || k == 0 {
        return None;
    }
    let id = &rest[..k];
    let tail = &rest[k + 1..];
    let mut i = 0;
    while i < tail.len() && is_separator(tail[i]) {
        i += 1;
    }
    let start = i;
    while i < tail.len() && !is_separator(tail[i]) {
        if tail[i] == b'\\' {
            return None;
        }
        i += 1;
    }
    let value = &tail[start..i];
    if matches!(value.first(), None | Some(b'"' | b'\'')) {
        return None;
    }
    // the usual end: ` ""` and nothing after it
    if tail.len() == i + 3 && tail[i..] == *b" \"\"" {
        return Some(RsetParts { id, value, flags: b"" });
    }
    while i < tail.len() && is_separator(tail[i]) {
        i += 1;
    }
    let flags: &[u8] = match tail.get(i) {
        None => b"",
        Some(b'"') => {
            let f = &tail[i + 1..];
            let e = find_quote_or_backslash(f, b'"')?;
            if f[e] != b'"' || !f[e + 1..].iter().all(|&b| is_separator(b)) {
                return None;
            }
            &f[..e]
        }
        Some(_) => return None,
    };
    Some(RsetParts { id, value, flags })
}

/// `RSET "<id>" <%0.7f value> ""` exactly as a 1.37.1 sender writes a normal stored value
/// (single spaces, empty flags, nothing after them): the id bytes (not checked for UTF-8) and
/// the value as [`parse_fixed7`] gives it; `rest` is what follows `RSET "`. `None` for
/// anything else (then try [`rset_parts`]). The value is made of digits, `.` and a leading
/// `-` only, so the tokenizer splits the line the same way, and wherever this gives
/// `Some((id, neg, m))`, [`rset_parts`] gives that id, a value word that [`parse_fixed7`]
/// reads as `(neg, m)` and empty flags.
#[inline]
pub fn rset_fixed7(rest: &[u8]) -> Option<(&[u8], bool, u64)> {
    let k = super::tokenizer::find_quote_or_backslash(rest, b'"')?;
    if rest[k] != b'"' || k == 0 {
        return None;
    }
    let value = rest[k + 1..].strip_prefix(b" ")?.strip_suffix(b" \"\"")?;
    let (neg, m) = parse_fixed7(value)?;
    Some((&rest[..k], neg, m))
}

/// [`rset_parts`] made an [`Rset`] (what [`Command::parse`] returns for that shape).
#[inline]
fn fast_rset(rest: &[u8]) -> Option<Rset<'_>> {
    let p = rset_parts(rest)?;
    Some(Rset {
        id: text(p.id),
        value: parse_f64(p.value).unwrap_or(f64::NAN),
        flags: match p.flags {
            b"" => Cow::Borrowed(""),
            f => text(f),
        },
    })
}

/// The span of `RBEGIN '' <start_s> <end_s> <child_now_s>` in exactly the shape a 1.37.1
/// sender writes (single spaces, three integers, nothing after them); `rest` is what follows
/// `RBEGIN '' `. `None` for any other shape: the general parser then decides. Wherever this
/// gives `Some`, [`Command::parse`] gives an `RBEGIN` with an empty id and this span.
#[inline]
pub fn rbegin_span_fast(rest: &[u8]) -> Option<RbeginSpan> {
    // each word: at most 18 plain digits here (no sign, cannot overflow), else parse_i64
    #[inline(always)]
    fn int(w: &[u8]) -> Option<i64> {
        if let Some(v) = super::number::digits_8_to_16(w) {
            return Some(v as i64);
        }
        if w.is_empty() || w.len() > 18 {
            return parse_i64(w);
        }
        let mut v: i64 = 0;
        for &c in w {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return parse_i64(w);
            }
            v = v * 10 + i64::from(d);
        }
        Some(v)
    }
    // the usual shape: three 10-digit times
    if rest.len() == 32 && rest[10] == b' ' && rest[21] == b' ' {
        use super::number::digits_8_to_16 as d;
        if let (Some(start), Some(end), Some(now)) = (d(&rest[..10]), d(&rest[11..21]), d(&rest[22..])) {
            return Some(RbeginSpan { start: start as i64, end: end as i64, child_now: Some(now as i64) });
        }
    }
    let mut it = rest.splitn(3, |&b| b == b' ');
    let start = int(it.next()?)?;
    let end = int(it.next()?)?;
    let child_now = int(it.next()?)?;
    Some(RbeginSpan { start, end, child_now: Some(child_now) })
}

// ---------------------------------------------------------------------------------------------
// parent → child commands

/// `REPLAY_CHART "<type.id>" "<true|false>" <after_s> <before_s>` — a replication request.
/// `after` is exclusive, `before` inclusive; `"true"` = start streaming afterwards; `0 0` =
/// "no data, just switch to live". Capture: `REPLAY_CHART "system.load" "true" 1795633835
/// 1795633845`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayChart<'a> {
    pub id: Text<'a>,
    pub start_streaming: bool,
    pub after: i64,
    pub before: i64,
}

impl<'a> ReplayChart<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let id = c.req_nonempty("missing chart id")?;
        let s = c.req_nonempty("missing start streaming flag")?;
        let a = c.req_nonempty("missing after")?;
        let b = c.req_nonempty("missing before")?;
        let r = ReplayChart {
            id: text(id),
            start_streaming: s == b"true",
            after: c.i64_of(a, "after is not a number")?,
            before: c.i64_of(b, "before is not a number")?,
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"REPLAY_CHART ");
        put_quoted(out, &self.id);
        out.extend_from_slice(if self.start_streaming { b" \"true\" " } else { b" \"false\" " });
        put_i64(out, self.after);
        sp(out);
        put_i64(out, self.before);
    }
}

/// `FUNCTION <transaction> <timeout_s> "<function + args>"` (parent → child) — a remote
/// function call; the transaction is an unquoted lowercase UUID.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall<'a> {
    pub transaction: Text<'a>,
    pub timeout_s: i64,
    pub function: Text<'a>,
}

impl<'a> FunctionCall<'a> {
    fn parse(c: &mut Ctx<'a>) -> Result<Self, ParseError> {
        let tr = c.req_nonempty("missing transaction")?;
        let t = c.req_nonempty("missing timeout")?;
        let f = c.req_nonempty("missing function")?;
        let r = FunctionCall {
            transaction: text(tr),
            timeout_s: c.i64_of(t, "timeout is not a number")?,
            function: text(f),
        };
        c.finish()?;
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"FUNCTION ");
        put_bare(out, &self.transaction);
        sp(out);
        put_i64(out, self.timeout_s);
        sp(out);
        put_quoted(out, &self.function);
    }
}

/// A line a parent sends to a child (spec §6). A 1.37.1 child logs and ignores anything else,
/// so callers should log [`ParseError`]s from [`Downstream::parse`] and continue.
#[derive(Debug, Clone, PartialEq)]
pub enum Downstream<'a> {
    Blank,
    ReplayChart(ReplayChart<'a>),
    Function(FunctionCall<'a>),
}

impl<'a> Downstream<'a> {
    /// Parses one parent → child line.
    pub fn parse(line: &'a [u8]) -> Result<Downstream<'a>, ParseError> {
        if line.len() > MAX_LINE_LEN {
            return Err(ParseError::LineTooLong {
                len: line.len(),
                max: MAX_LINE_LEN,
                excerpt: excerpt(line),
            });
        }
        let mut words = Words::new(line);
        let Some(kw) = words.next() else {
            return Ok(Downstream::Blank);
        };
        let mut c = Ctx { line, words, keyword: "" };
        match kw {
            b"REPLAY_CHART" => {
                c.keyword = "REPLAY_CHART";
                Ok(Downstream::ReplayChart(ReplayChart::parse(&mut c)?))
            }
            b"FUNCTION" => {
                c.keyword = "FUNCTION";
                Ok(Downstream::Function(FunctionCall::parse(&mut c)?))
            }
            other => Err(ParseError::UnknownKeyword {
                keyword: excerpt(&other[..other.len().min(64)]),
                excerpt: excerpt(line),
            }),
        }
    }

    /// Appends the line as a 1.37.1 parent writes it, with its `\n`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Downstream::Blank => {}
            Downstream::ReplayChart(x) => x.encode(out),
            Downstream::Function(x) => x.encode(out),
        }
        out.push(b'\n');
    }
}

// ---------------------------------------------------------------------------------------------
// function result payload

/// Default cap of a function result payload (Netdata: 10 MB).
pub const MAX_FUNCTION_RESULT: usize = 10 * 1024 * 1024;

/// Collects the verbatim payload lines after a `FUNCTION_RESULT_BEGIN`, up to the line whose
/// first word is `FUNCTION_RESULT_END`. Pure: the receiver loop feeds it the lines it frames.
#[derive(Debug)]
pub struct FunctionResultBody {
    payload: Vec<u8>,
    cap: usize,
}

/// What [`FunctionResultBody::push_line`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProgress {
    /// The line was payload; keep feeding.
    More,
    /// The line was `FUNCTION_RESULT_END`; [`FunctionResultBody::into_payload`] has the result.
    Done,
}

/// A function result payload above the cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function result payload exceeds {cap} bytes")]
pub struct PayloadTooLarge {
    pub cap: usize,
}

impl FunctionResultBody {
    /// An empty collector with the given byte cap.
    pub fn new(cap: usize) -> Self {
        FunctionResultBody { payload: Vec::new(), cap }
    }

    /// Feeds one line (without its `\n`).
    pub fn push_line(&mut self, line: &[u8]) -> Result<BodyProgress, PayloadTooLarge> {
        if Words::new(line).next() == Some(b"FUNCTION_RESULT_END".as_slice()) {
            return Ok(BodyProgress::Done);
        }
        if self.payload.len() + line.len() + 1 > self.cap {
            return Err(PayloadTooLarge { cap: self.cap });
        }
        self.payload.extend_from_slice(line);
        self.payload.push(b'\n');
        Ok(BodyProgress::More)
    }

    /// The collected payload (each line with its `\n`).
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(line: &str) -> Command<'_> {
        let cmd = Command::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let mut out = Vec::new();
        cmd.encode(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), format!("{line}\n"), "round trip");
        cmd
    }

    #[test]
    fn capture_lines_round_trip_byte_for_byte() {
        for l in [
            "CLAIMED_ID c325f67c-e903-11f1-a751-02fc00000001 NULL",
            "LABEL \"_aclk_available\" = 9 \"false\"",
            "OVERWRITE labels",
            "VARIABLE HOST tcp_max_connections = -1.0000000",
            "VARIABLE CHART pidmax = 32768.0000000",
            "CHART \"system.load\" \"\" \"System Load Average\" \"load\" \"load\" \"system.load\" \"line\" 100 5 \"   \" \"proc.plugin\" \"/proc/loadavg\"",
            "CHART \"system.intr\" \"\" \"CPU Interrupts\" \"interrupts/s\" \"interrupts\" \"system.intr\" \"line\" 900 1 \" detail  \" \"proc.plugin\" \"/proc/stat\"",
            "CLABEL \"_collect_plugin\" \"diskspace.plugin\" 536870913",
            "CLABEL_COMMIT",
            "DIMENSION \"reserved_for_root\" \"reserved for root\" \"absolute\" 4096 1073741824 \"  \"",
            "DIMENSION \"idle\" \"idle\" \"percentage-of-incremental-row\" 1 1 \" hidden \"",
            "CHART_DEFINITION_END 1795633827 1795633847 1795633847",
            "BEGIN \"disk_space._dev\" 751234",
            "SET \"avail\" = 3083623",
            "END",
            "RBEGIN \"netdata.server_cpu\"",
            "RBEGIN '' 1795633847 1795633848 1795633848",
            "RSET \"user\" 9.4310010 \"\"",
            "RSET \"HRTIMER\" NAN \"E\"",
            "RSET \"HRTIMER\" nan \"\"",
            "RDSTATE \"user\" 1795633848000209 30232 0.0039987 9.4310013",
            "RDSTATE \"savings\" 0 0 0.0000000 nan",
            "RSSTATE 1795633848000212 1795633848000000",
            "REND 5 1795633830 1795633845 true 1795633835 1795633845 1795633847",
            "REND 1 0 1795633849 false 1795633849 1795633849 1795633849",
            "FUNCTION \"processes\" 10 \"Detailed information on the currently running processes.\"",
            "FUNCTION GLOBAL \"x\" 5 \"\"",
            "FUNCTION_RESULT_BEGIN \"abc\" 200 \"application/json\" 1795633849",
            "FUNCTION_RESULT_END",
            "FLUSH",
            "DISABLE",
        ] {
            roundtrip(l);
        }
    }

    #[test]
    fn typed_fields_are_what_the_spec_says() {
        match roundtrip("SET \"avail\" = 3083623") {
            Command::Set(s) => {
                assert_eq!(s.id, "avail");
                assert_eq!(s.value, Some(3083623));
            }
            c => panic!("{c:?}"),
        }
        match Command::parse(b"SET \"x\" = 010") {
            Ok(Command::Set(s)) => assert_eq!(s.value, Some(8)),
            c => panic!("{c:?}"),
        }
        match Command::parse(b"SET \"x\" = ") {
            Ok(Command::Set(s)) => assert_eq!(s.value, None),
            c => panic!("{c:?}"),
        }
        match roundtrip("CHART \"system.load\" \"\" \"System Load Average\" \"load\" \"load\" \"system.load\" \"line\" 100 5 \"   \" \"proc.plugin\" \"/proc/loadavg\"") {
            Command::Chart(c) => {
                assert_eq!((c.type_part(), c.id_part()), ("system", "load"));
                assert_eq!((c.priority, c.update_every), (100, 5));
                assert_eq!(c.options, "   ");
                assert_eq!(c.options, Chart::options_field(false, false, false, false));
                assert_eq!(c.module, "/proc/loadavg");
            }
            c => panic!("{c:?}"),
        }
        match roundtrip("LABEL \"_is_ephemeral\" = 2 \"false\"") {
            Command::Label(l) => assert_eq!((&*l.name, l.source, &*l.value), ("_is_ephemeral", 2, "false")),
            c => panic!("{c:?}"),
        }
        match Command::parse(b"LABEL \"k\" = 1 several unquoted words") {
            Ok(Command::Label(l)) => assert_eq!(l.value, "several unquoted words"),
            c => panic!("{c:?}"),
        }
        match roundtrip("RSET \"HRTIMER\" NAN \"E\"") {
            Command::Rset(r) => assert!(r.is_empty_slot() && !r.is_reset()),
            c => panic!("{c:?}"),
        }
        match Command::parse(b"RSET \"x\" garbage \"\"") {
            Ok(Command::Rset(r)) => assert!(r.value.is_nan()),
            c => panic!("{c:?}"),
        }
        match roundtrip("RBEGIN '' 1795633847 1795633848 1795633848") {
            Command::Rbegin(r) => {
                assert_eq!(r.id, "");
                assert_eq!(r.span, Some(RbeginSpan { start: 1795633847, end: 1795633848, child_now: Some(1795633848) }));
            }
            c => panic!("{c:?}"),
        }
        match Command::parse(b"REND 1 2 3 true 4 5") {
            Ok(Command::Rend(r)) => assert!(r.start_streaming && r.child_now.is_none() && r.before == 5),
            c => panic!("{c:?}"),
        }
        match roundtrip("VARIABLE HOST tcp_max_connections = -1.0000000") {
            Command::Variable(v) => {
                assert_eq!(v.scope, Some(VariableScope::Host));
                assert_eq!(v.value, Some(-1.0));
            }
            c => panic!("{c:?}"),
        }
        match Command::parse(b"VARIABLE x =") {
            Ok(Command::Variable(v)) => assert!(v.scope.is_none() && v.value.is_none()),
            c => panic!("{c:?}"),
        }
        match roundtrip("CLAIMED_ID c325f67c-e903-11f1-a751-02fc00000001 NULL") {
            Command::ClaimedId(c) => assert!(c.claim_id.is_none()),
            c => panic!("{c:?}"),
        }
        assert_eq!(Command::parse(b"  \r\n").ok(), Some(Command::Blank));
        assert_eq!(Command::parse(b"END\r\n").ok(), Some(Command::End));
    }

    fn malformed_reason(line: &[u8]) -> &'static str {
        match Command::parse(line) {
            Err(ParseError::Malformed { reason, .. }) => reason,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn malformed_lines_are_typed_errors() {
        assert_eq!(malformed_reason(b"CLABEL \"a\" \"b\""), "missing label source");
        assert_eq!(malformed_reason(b"REND 1 2 3 true 4"), "needs at least 6 arguments");
        assert_eq!(malformed_reason(b"CHART \"nodot\""), "chart id is not type.id");
        assert_eq!(malformed_reason(b"CHART \".x\""), "chart id is not type.id");
        assert_eq!(malformed_reason(b"SET \"x\" = 12abc"), "value is not an integer");
        assert_eq!(malformed_reason(b"SET"), "missing dimension id");
        assert_eq!(malformed_reason(b"BEGIN \"a.b\" -5"), "microseconds is not a number");
        assert_eq!(malformed_reason(b"CLAIMED_ID nope NULL"), "machine guid is not a UUID");
        assert_eq!(malformed_reason(b"LABEL \"k\" = 1"), "missing label value");
        assert_eq!(malformed_reason(b"RDSTATE \"x\" 1 2 3 NAN"), "last stored value is not a number");
        let e = Command::parse(b"flush").err();
        assert!(matches!(e, Some(ParseError::UnknownKeyword { ref keyword, .. }) if keyword == "flush"));
        let e = Command::parse(b"BEGIN2 \"x\" 1").err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("unknown keyword \"BEGIN2\" in line \"BEGIN2 \\\"x\\\" 1\""));
        let e = Command::parse(b"REPLAY_CHART \"a.b\" \"true\" 0 0").err();
        assert!(matches!(e, Some(ParseError::UnknownKeyword { .. })));
    }

    #[test]
    fn limits_are_enforced() {
        let many = format!("SET \"x\" = 1{}", " 0".repeat(18));
        assert!(matches!(Command::parse(many.as_bytes()), Err(ParseError::TooManyWords { max: 20, .. })));
        let ok = format!("SET \"x\" = 1{}", " 0".repeat(17));
        assert!(Command::parse(ok.as_bytes()).is_ok());
        let long = format!("SET \"{}\" = 1", "x".repeat(MAX_LINE_LEN));
        match Command::parse(long.as_bytes()) {
            Err(ParseError::LineTooLong { len, max, excerpt }) => {
                assert_eq!(len, MAX_LINE_LEN + 10);
                assert_eq!(max, MAX_LINE_LEN);
                assert!(excerpt.len() < 200);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_fast_path_agrees_with_the_tokenizer() {
        for l in [
            &b"SET \"a\" = 1"[..],
            b"SET \"a b\" = -0x10\r",
            b"SET \"a\" =",
            b"SET \"a\" = \"\"",
            b"SET \"a\"1",
            b"SET \"a\" = 1 2",
            b"SET \"a\\\"b\" = 3",
            b"SET \"a\" = 1\\ 2",
            b"SET \"\" = 1",
            b"SET \"a\" = 12x",
            b"SET \"a\" = '5'",
            b"SET \"unterminated = 5",
        ] {
            let fast = l.strip_prefix(b"SET \"").and_then(fast_set);
            let general = {
                let mut c = Ctx { line: l, words: Words::new(l), keyword: "SET" };
                c.next();
                Set::parse(&mut c).map(Command::Set)
            };
            if let Some(f) = fast {
                assert_eq!(Ok(f), general, "{:?}", String::from_utf8_lossy(l));
            }
            assert_eq!(Command::parse(l), general, "{:?}", String::from_utf8_lossy(l));
        }
    }

    #[test]
    fn set_fast_path_agrees_on_random_lines() {
        let alphabet = b"ab \"'\\=\t\r0x9-";
        let mut rng = crate::testkit::XorShift64::new(0x1234_5678_9abc_def1);
        for _ in 0..50_000 {
            let x = rng.next_u64();
            let mut l = b"SET \"".to_vec();
            let mut y = x;
            for _ in 0..(x % 16) {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                l.push(alphabet[((y >> 33) % alphabet.len() as u64) as usize]);
            }
            let general = {
                let mut c = Ctx { line: &l, words: Words::new(&l), keyword: "SET" };
                c.next();
                Set::parse(&mut c).map(Command::Set)
            };
            if let Some(f) = fast_set(&l[5..]) {
                assert_eq!(Ok(f), general, "{:?}", String::from_utf8_lossy(&l));
            }
        }
    }

    /// `RSET` through the tokenizer only, as comparable fields (NaN compared by bits).
    fn rset_general(l: &[u8]) -> Result<(String, u64, String), ParseError> {
        match Command::parse_tokenized(l)? {
            Command::Rset(r) => Ok((r.id.into_owned(), r.value.to_bits(), r.flags.into_owned())),
            c => panic!("not RSET: {c:?}"),
        }
    }

    fn rset_fields(r: Rset<'_>) -> (String, u64, String) {
        (r.id.into_owned(), r.value.to_bits(), r.flags.into_owned())
    }

    #[test]
    fn rset_fast_path_agrees_with_the_tokenizer() {
        let mut fast_taken = 0;
        for l in [
            &b"RSET \"user\" 9.4310010 \"\""[..],
            b"RSET \"user\" -9.4310010 \"\"\r\n",
            b"RSET \"a b\" NAN \"E\"",
            b"RSET \"a\" nan \"R\"",
            b"RSET \"a\"=1.5=\"\"",
            b"RSET \"a\"1.5\"\"",
            b"RSET \"a\" 1.5",
            b"RSET \"a\" 1.5 ",
            b"RSET \"a\"",
            b"RSET \"a\" ",
            b"RSET \"a\" 1.5 E",
            b"RSET \"a\" 1.5 \"\" extra",
            b"RSET \"a\" 1.5 \"E",
            b"RSET \"a\" 1.5 \"E\\\"\"",
            b"RSET \"a\\\"b\" 1 \"\"",
            b"RSET \"a\" 1\\ 2 \"\"",
            b"RSET \"a\" '1' \"\"",
            b"RSET \"a\" \"1\" \"\"",
            b"RSET \"\" 1 \"\"",
            b"RSET \"a\" 12x \"\"",
            b"RSET \"a\" 1e3 \"\"",
            b"RSET \"a\" 1 'E'",
            b"RSET \"unterminated 5",
            b"RSET \"a\xffb\" 1 \"\xff\"",
        ] {
            let fast = l.strip_prefix(b"RSET \"").and_then(fast_rset);
            let general = rset_general(l);
            if let Some(f) = fast {
                fast_taken += 1;
                assert_eq!(Ok(rset_fields(f)), general, "{:?}", String::from_utf8_lossy(l));
            }
            let parsed = Command::parse(l).map(|c| match c {
                Command::Rset(r) => rset_fields(r),
                c => panic!("not RSET: {c:?}"),
            });
            assert_eq!(parsed, general, "{:?}", String::from_utf8_lossy(l));
        }
        assert!(fast_taken >= 10, "{fast_taken}");
    }

    #[test]
    fn rset_fast_path_agrees_on_random_lines() {
        let alphabet = b"ab \"'\\=\t\r0.9-NAER";
        let mut rng = crate::testkit::XorShift64::new(0x0fed_cba9_8765_4321);
        let mut fast_taken = 0;
        for _ in 0..50_000 {
            let x = rng.next_u64();
            let mut l = b"RSET \"".to_vec();
            let mut y = x;
            for _ in 0..(x % 20) {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                l.push(alphabet[((y >> 33) % alphabet.len() as u64) as usize]);
            }
            if let Some(f) = fast_rset(&l[6..]) {
                fast_taken += 1;
                assert_eq!(Ok(rset_fields(f)), rset_general(&l), "{:?}", String::from_utf8_lossy(&l));
            }
            check_rset_fixed7(&l);
        }
        assert!(fast_taken > 1000, "{fast_taken}");
    }

    /// Wherever [`rset_fixed7`] answers, the general parser gives the same id, value and no
    /// flags. Returns whether it answered.
    fn check_rset_fixed7(l: &[u8]) -> bool {
        let Some((id, neg, m)) = l.strip_prefix(b"RSET \"").and_then(rset_fixed7) else { return false };
        let (gid, value, flags) = rset_general(l).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gid, String::from_utf8_lossy(id), "{:?}", String::from_utf8_lossy(l));
        let v = m as f64 / 1e7;
        assert_eq!(value, if neg { -v } else { v }.to_bits(), "{:?}", String::from_utf8_lossy(l));
        assert_eq!(flags, "");
        true
    }

    #[test]
    fn rset_in_the_senders_exact_shape_parses_like_the_tokenizer() {
        let mut taken = 0;
        for l in [
            &b"RSET \"user\" 9.4310010 \"\""[..],
            b"RSET \"user\" -9.4310010 \"\"",
            b"RSET \"a b\" 0.0000000 \"\"",
            b"RSET \"a\xff\" 12345678.0000001 \"\"",
            b"RSET \"a\" 123456789.0000001 \"\"",
            b"RSET \"a\" 1.0000000 \"R\"",
            b"RSET \"a\" 1.0000000 \"\" ",
            b"RSET \"a\" 1.0000000 \"\"\r",
            b"RSET \"a\"  1.0000000 \"\"",
            b"RSET \"a\" 1.0000000  \"\"",
            b"RSET \"a\" 1.000000 \"\"",
            b"RSET \"a\" +1.0000000 \"\"",
            b"RSET \"a\" 1e0000000 \"\"",
            b"RSET \"a\" NAN \"E\"",
            b"RSET \"a\\\" 1.0000000 \"\"",
            b"RSET \"\" 1.0000000 \"\"",
            b"RSET \"a\"1.0000000 \"\"",
            b"RSET \"a\" 1.0000000\"\"",
            b"RSET \"a\" 1.0000000 \"\"\"",
            b"RSET \"a\" 1.000=000 \"\"",
            b"RSET \"a\nb\" 1.0000000 \"\"",
            b"RSET \"a\" 1.0000000 \"\nb\"",
            b"RSET \"a\" 1.00\n00000 \"\"",
            b"RSET \"a",
        ] {
            taken += usize::from(check_rset_fixed7(l));
        }
        assert_eq!(taken, 5, "the four usual ones, and the newline inside an id (never in a line)");
        // the sender's lines with random values, some with a byte replaced or inserted
        let alphabet = b"0123456789 .-+'=x\r\"\\E";
        let mut rng = crate::testkit::XorShift64::new(0x5851_f42d_4c95_7f2d);
        let mut taken = 0;
        for _ in 0..50_000 {
            let mut next = || rng.next_u64();
            let v = (next() % 1_000_000_000_000_000) as f64 / 1e7 * if next() % 3 == 0 { -1.0 } else { 1.0 };
            let mut l = format!("RSET \"d{}\" {v:.7} \"\"", next() % 100).into_bytes();
            for _ in 0..next() % 3 {
                let at = 6 + (next() as usize) % (l.len() - 5);
                let b = alphabet[(next() as usize) % alphabet.len()];
                if next() % 2 == 0 && at < l.len() {
                    l[at] = b;
                } else {
                    l.insert(at, b);
                }
            }
            taken += usize::from(check_rset_fixed7(&l));
        }
        assert!((5_000..45_000).contains(&taken), "{taken}");
    }

    #[test]
    fn rset_parts_are_the_raw_bytes_of_the_general_parse() {
        // the receiver uses the parts without UTF-8 conversion: on valid UTF-8 they are the
        // very words, on invalid bytes the general parse is their lossy conversion
        for l in [&b"RSET \"user\" 9.4310010 \"\""[..], b"RSET \"d7\" 1.0000000 \"R\"", b"RSET \"a\xffb\" 1 \"\xffE\"", b"RSET \"x\" NAN \"E\""] {
            let p = rset_parts(&l[6..]).expect("usual shape");
            let (id, value, flags) = rset_general(l).expect("parses");
            assert_eq!(String::from_utf8_lossy(p.id), id);
            assert_eq!(String::from_utf8_lossy(p.flags), flags);
            assert_eq!(parse_f64(p.value).unwrap_or(f64::NAN).to_bits(), value);
        }
        let p = rset_parts(b"d1\" 12.5000000 \"\"").expect("usual shape");
        assert_eq!((p.id, p.value, p.flags), (&b"d1"[..], &b"12.5000000"[..], &b""[..]));
    }

    fn rbegin_general(l: &[u8]) -> Result<(String, Option<RbeginSpan>), ParseError> {
        match Command::parse_tokenized(l)? {
            Command::Rbegin(r) => Ok((r.id.into_owned(), r.span)),
            c => panic!("not RBEGIN: {c:?}"),
        }
    }

    #[test]
    fn rbegin_fast_path_agrees_with_the_tokenizer() {
        let mut fast_taken = 0;
        for l in [
            &b"RBEGIN '' 1795633847 1795633848 1795633848"[..],
            b"RBEGIN '' -5 +6 0",
            b"RBEGIN '' 1795633847 1795633848",
            b"RBEGIN '' 1795633847 1795633848 ",
            b"RBEGIN '' 1795633847  1795633848 1795633848",
            b"RBEGIN '' 1795633847 1795633848 1795633848\r",
            b"RBEGIN '' 1795633847 1795633848 1795633848 extra",
            b"RBEGIN '' 1795633847 1795633848 x",
            b"RBEGIN '' 1795633847 99999999999999999999 1",
            b"RBEGIN '' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
            b"RBEGIN '' '1' 2 3",
            b"RBEGIN '' ",
            b"RBEGIN '' 1=2=3",
        ] {
            let general = rbegin_general(l);
            if let Some(span) = l.strip_prefix(b"RBEGIN '' ").and_then(rbegin_span_fast) {
                fast_taken += 1;
                assert_eq!(general, Ok((String::new(), Some(span))), "{:?}", String::from_utf8_lossy(l));
            }
        }
        assert_eq!(fast_taken, 2);
        // random lines: three numbers, some with a byte replaced or inserted from a small
        // alphabet; wherever the fast path answers, it agrees
        let alphabet = b"0123456789 -+'=x\r\"";
        let mut rng = crate::testkit::XorShift64::new(0x1234_5678_9abc_def1);
        let mut fast_taken = 0;
        for _ in 0..50_000 {
            let mut next = || rng.next_u64();
            let mut l = if next().is_multiple_of(2) {
                format!("RBEGIN '' {} {} {}", next() % 2_000_000_000, next() as i64 >> (next() % 64), next() % 100).into_bytes()
            } else {
                // three 10-digit times (the usual shape, read eight bytes at a time)
                let mut t = || 1_000_000_000 + next() % 9_000_000_000;
                format!("RBEGIN '' {} {} {}", t(), t(), t()).into_bytes()
            };
            for _ in 0..next() % 3 {
                let at = 10 + (next() as usize) % (l.len() - 9);
                let b = alphabet[(next() as usize) % alphabet.len()];
                if next() % 2 == 0 && at < l.len() {
                    l[at] = b;
                } else {
                    l.insert(at, b);
                }
            }
            if let Some(span) = rbegin_span_fast(&l[10..]) {
                fast_taken += 1;
                assert_eq!(rbegin_general(&l), Ok((String::new(), Some(span))), "{:?}", String::from_utf8_lossy(&l));
            }
        }
        assert!((5_000..45_000).contains(&fast_taken), "{fast_taken}");
    }

    /// `BEGIN` through the tokenizer only, as comparable fields.
    fn begin_general(l: &[u8]) -> Result<(String, u64), ParseError> {
        match Command::parse_tokenized(l)? {
            Command::Begin(b) => Ok((b.id.into_owned(), b.microseconds)),
            c => panic!("not BEGIN: {c:?}"),
        }
    }

    #[test]
    fn begin_fast_path_agrees_with_the_tokenizer() {
        let mut fast_taken = 0;
        for l in [
            &b"BEGIN \"system.cpu\" 1000026"[..],
            b"BEGIN \"system.cpu\"",
            b"BEGIN \"system.cpu\" 00012",
            b"BEGIN \"a b\" 0",
            b"BEGIN \"system.cpu\" ",
            b"BEGIN \"system.cpu\"  5",
            b"BEGIN \"system.cpu\" 5\r",
            b"BEGIN \"system.cpu\" 5 extra",
            b"BEGIN \"system.cpu\" -5",
            b"BEGIN \"system.cpu\" 99999999999999999999",
            b"BEGIN \"system.cpu\" 18446744073709551615",
            b"BEGIN \"system.cpu\"5",
            b"BEGIN \"system.cpu\"=5",
            b"BEGIN \"\" 5",
            b"BEGIN \"a\\\"b\" 5",
            b"BEGIN \"unterminated 5",
            b"BEGIN \"a\" 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
        ] {
            let general = begin_general(l);
            if let Some((id, usec)) = l.strip_prefix(b"BEGIN \"").and_then(begin_parts) {
                fast_taken += 1;
                assert_eq!(general, Ok((String::from_utf8_lossy(id).into_owned(), usec)), "{:?}", String::from_utf8_lossy(l));
            }
        }
        assert_eq!(fast_taken, 5);
        // random lines from a small alphabet: wherever the fast path answers, it agrees
        let alphabet = b"ab \"'\\=\t\r09x-\xff";
        let mut rng = crate::testkit::XorShift64::new(0x1234_5678_9abc_def1);
        let mut fast_taken = 0;
        for _ in 0..50_000 {
            let x = rng.next_u64();
            let mut l = b"BEGIN \"".to_vec();
            let mut y = x;
            for _ in 0..(x % 16) {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                l.push(alphabet[((y >> 33) % alphabet.len() as u64) as usize]);
            }
            if let Some((id, usec)) = begin_parts(&l[7..]) {
                fast_taken += 1;
                assert_eq!(begin_general(&l), Ok((String::from_utf8_lossy(id).into_owned(), usec)), "{:?}", String::from_utf8_lossy(&l));
            }
        }
        assert!(fast_taken > 500, "{fast_taken}");
    }

    #[test]
    fn set_parts_are_the_raw_bytes_of_the_general_parse() {
        for l in [&b"SET \"a\" = 1"[..], b"SET \"a\xffb\" = 0x10", b"SET \"x\" =", b"SET \"x\"\t-7\r"] {
            let (id, value) = set_parts(&l[5..]).expect("usual shape");
            match Command::parse_tokenized(l) {
                Ok(Command::Set(s)) => assert_eq!((s.id.into_owned(), s.value), (String::from_utf8_lossy(id).into_owned(), value)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn command_stays_small() {
        // returned by value once per line: keep the hot variants cheap to move
        assert!(std::mem::size_of::<Command<'_>>() <= 80, "{}", std::mem::size_of::<Command<'_>>());
        assert!(std::mem::size_of::<Result<Command<'_>, ParseError>>() <= 88);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        match Command::parse(b"SET \"a\xffb\" = 1") {
            Ok(Command::Set(s)) => assert_eq!(s.id, "a\u{fffd}b"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn encoding_keeps_fields_single_words() {
        let mut out = Vec::new();
        Command::Label(Label { name: "a\"b".into(), source: 1, value: "x\ny\\".into() }).encode(&mut out);
        assert_eq!(out, b"LABEL \"a'b\" = 1 \"x y/\"\n");
        out.clear();
        Command::Variable(Variable { scope: Some(VariableScope::Chart), name: "a b=c".into(), value: Some(f64::NAN) })
            .encode(&mut out);
        assert_eq!(out, b"VARIABLE CHART a_b_c = nan\n");
    }

    #[test]
    fn downstream_lines_round_trip() {
        for l in [
            "REPLAY_CHART \"system.load\" \"true\" 1795633835 1795633845",
            "REPLAY_CHART \"a.b\" \"false\" 0 0",
            "FUNCTION 4b3c1b0e-1f67-4b8b-8d4c-2c1a4e9a7f00 10 \"processes\"",
        ] {
            let d = Downstream::parse(l.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            let mut out = Vec::new();
            d.encode(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), format!("{l}\n"));
        }
        assert!(matches!(Downstream::parse(b"REPLAY_CHART \"a.b\" \"true\" 1"), Err(ParseError::Malformed { .. })));
        assert!(matches!(Downstream::parse(b"SET x = 1"), Err(ParseError::UnknownKeyword { .. })));
    }

    #[test]
    fn function_result_body_collects_until_end() {
        let mut b = FunctionResultBody::new(64);
        assert_eq!(b.push_line(b"{\"a\": 1}"), Ok(BodyProgress::More));
        assert_eq!(b.push_line(b"  SET x = 1"), Ok(BodyProgress::More));
        assert_eq!(b.push_line(b"FUNCTION_RESULT_END"), Ok(BodyProgress::Done));
        assert_eq!(b.into_payload(), b"{\"a\": 1}\n  SET x = 1\n");
        let mut b = FunctionResultBody::new(8);
        assert_eq!(b.push_line(b"0123456789"), Err(PayloadTooLarge { cap: 8 }));
    }
}
