//! Capability negotiation and the handshake reply strings (spec §2.4, §2.5, §3).
//!
//! Parent side: [`negotiate_parent`] turns the child's `ver=` into the capability set to use and
//! [`Reply::encode`] writes the greeting or refusal. Child side: [`Reply::classify`] turns the
//! parent's first `recv` into a typed reply, [`Reply::postpone_secs`] says how long Netdata
//! postpones that destination, and [`negotiate_child`] computes the capabilities to use.

use std::fmt;

/// A capability bitmap (`ver=` when > 5). Bits 0–2 are never used.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u32);

impl Capabilities {
    pub const NONE: Self = Self(0);
    /// Oldest protocol.
    pub const V1: Self = Self(1 << 3);
    /// Host labels protocol (v2).
    pub const V2: Self = Self(1 << 4);
    /// "Version number" negotiation (old versions 3, 4, 5).
    pub const VN: Self = Self(1 << 5);
    /// Capability-bitmap negotiation.
    pub const VCAPS: Self = Self(1 << 6);
    /// `LABEL` / `OVERWRITE`.
    pub const HLABELS: Self = Self(1 << 7);
    /// `CLAIMED_ID`.
    pub const CLAIM: Self = Self(1 << 8);
    /// `CLABEL` / `CLABEL_COMMIT`.
    pub const CLABELS: Self = Self(1 << 9);
    /// LZ4 framing child → parent.
    pub const COMPRESSION: Self = Self(1 << 10);
    /// `FUNCTION` definitions and calls.
    pub const FUNCTIONS: Self = Self(1 << 11);
    /// `CHART_DEFINITION_END`, `REPLAY_CHART`, `RBEGIN…REND`; BEGIN always carries µs.
    pub const REPLICATION: Self = Self(1 << 12);
    /// Compressed frames may split a line.
    pub const BINARY: Self = Self(1 << 13);

    /// Everything a 1.37.1 build with compression has: 16376.
    pub const NETDATA_1_37_ALL: Self = Self(16376);
    /// What a 1.37.1 child offers with compression off: 15352 (the capture's `ver=`).
    pub const NETDATA_1_37_NO_COMPRESSION: Self = Self(15352);
    /// What a 1.37.1 parent answers to an uncompressed 1.37.1 child: 15296.
    pub const PARENT_UNCOMPRESSED: Self = Self(15296);

    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    #[inline]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
    #[inline]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    #[inline]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
    #[inline]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Converts a `ver=` number (or the number after `version=` in a greeting): ≤ 5 are old
    /// protocol versions mapped to capability sets, anything else is a bitmap (the top bit and
    /// bits above 31 are dropped). `has_compression`: whether the *local* build supports
    /// compression (old version 5 includes it only then).
    pub fn from_version(v: u64, has_compression: bool) -> Self {
        match v {
            0 | 1 => Self::V1,
            2 => Self::V2.union(Self::HLABELS),
            3 => Self::VN.union(Self::HLABELS).union(Self::CLAIM),
            4 => Self::VN.union(Self::HLABELS).union(Self::CLAIM).union(Self::CLABELS),
            5 => {
                let c = Self::VN.union(Self::HLABELS).union(Self::CLAIM).union(Self::CLABELS);
                if has_compression {
                    c.union(Self::COMPRESSION)
                } else {
                    c
                }
            }
            _ => Self((v & 0x7FFF_FFFF) as u32),
        }
    }

    /// Keeps only the highest negotiation style: VCAPS clears V1/V2/VN, VN clears V1/V2, V2
    /// clears V1 (spec §3.2 step 2).
    pub fn normalized(self) -> Self {
        if self.contains(Self::VCAPS) {
            self.without(Self::V1.union(Self::V2).union(Self::VN))
        } else if self.contains(Self::VN) {
            self.without(Self::V1.union(Self::V2))
        } else if self.contains(Self::V2) {
            self.without(Self::V1)
        } else {
            self
        }
    }

    /// Names of the set bits, for logs.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [(Capabilities, &str); 11] = [
            (Capabilities::V1, "V1"),
            (Capabilities::V2, "V2"),
            (Capabilities::VN, "VN"),
            (Capabilities::VCAPS, "VCAPS"),
            (Capabilities::HLABELS, "HLABELS"),
            (Capabilities::CLAIM, "CLAIM"),
            (Capabilities::CLABELS, "CLABELS"),
            (Capabilities::COMPRESSION, "COMPRESSION"),
            (Capabilities::FUNCTIONS, "FUNCTIONS"),
            (Capabilities::REPLICATION, "REPLICATION"),
            (Capabilities::BINARY, "BINARY"),
        ];
        NAMES.iter().filter(|(c, _)| self.contains(*c)).map(|(_, n)| *n).collect()
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({} = {})", self.0, self.names().join("|"))
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.names().join("|"))
    }
}

/// Parent side (spec §3.2): the capabilities to use with a child that sent `ver` (`None` when
/// absent or empty — treated as version 1). `ours` = what this parent implements;
/// `compression_allowed` = `[stream] enable compression` and the per-key/per-host setting.
pub fn negotiate_parent(
    ver: Option<u64>,
    ours: Capabilities,
    compression_allowed: bool,
) -> Capabilities {
    let offered = Capabilities::from_version(ver.unwrap_or(1), ours.contains(Capabilities::COMPRESSION))
        .normalized();
    let mut caps = offered.intersection(ours);
    if !compression_allowed {
        caps = caps.without(Capabilities::COMPRESSION);
    }
    caps
}

/// Child side (spec §3.3): the capabilities to use after the parent answered `version=N` (or a
/// V1/V2 prompt, mapped to 1/2). A 1.37.1 child ANDs with its *compiled* set, not with its
/// offer; pass `compiled` accordingly (a careful child may pass its offer instead).
pub fn negotiate_child(parent_version: u64, compiled: Capabilities) -> Capabilities {
    Capabilities::from_version(parent_version, compiled.contains(Capabilities::COMPRESSION))
        .intersection(compiled)
}

/// The 45-byte greeting prefix; VCAPS/VN replies append a decimal number, no newline.
pub const GREETING_PREFIX: &str = "Hit me baby, push them over with the version=";
/// Greeting for a child that offered version 2.
pub const GREETING_V2: &str = "Hit me baby, push them over and bring the host labels...";
/// Greeting for a child that offered version 0/1 or nothing.
pub const GREETING_V1: &str = "Hit me baby, push them over...";
/// Refusal: the machine GUID is the parent's own.
pub const REFUSE_LOCALHOST: &str = "Don't hit me baby, you are trying to stream my localhost back";
/// Refusal: the same GUID is already streaming (data within 30 s).
pub const REFUSE_ALREADY_STREAMING: &str = "This GUID is already streaming to this server";
/// Refusal: any authentication failure (deliberately the same for every cause).
pub const REFUSE_DENIED: &str = "You are not permitted to access this. Check the logs for more info.";
/// Refusal: `[web] accept a streaming request every seconds` rate limit.
pub const REFUSE_TOO_BUSY: &str = "The server is too busy now to accept this request. Try later.";
/// Refusal: `[web]` ACL / `allow streaming from`.
pub const REFUSE_NOT_ALLOWED: &str = "You are not allowed to access this resource.";

/// Every reply a 1.37.1 parent sends after a `STREAM` request (all bare bytes, no newline,
/// followed by a close for refusals), plus the child's "nothing / not understood" outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `Hit me baby, push them over with the version=<caps>` (VCAPS).
    Capabilities(Capabilities),
    /// `...version=3|4|5` (VN).
    VersionNumber(u8),
    /// `Hit me baby, push them over and bring the host labels...`
    V2,
    /// `Hit me baby, push them over...`
    V1,
    Localhost,
    AlreadyStreaming,
    Denied,
    TooBusy,
    NotAllowed,
    /// Anything else (HTTP 400, garbage). Not sent by [`Reply::encode`].
    NotUnderstood,
    /// The parent closed without a byte or the child timed out waiting.
    NoReply,
}

impl Reply {
    /// The parent's greeting for a negotiated capability set (spec §3.2 step 5).
    pub fn greeting_for(caps: Capabilities) -> Reply {
        if caps.contains(Capabilities::VCAPS) {
            Reply::Capabilities(caps)
        } else if caps.contains(Capabilities::VN) {
            Reply::VersionNumber(if caps.contains(Capabilities::COMPRESSION) {
                5
            } else if caps.contains(Capabilities::CLABELS) {
                4
            } else {
                3
            })
        } else if caps.contains(Capabilities::V2) {
            Reply::V2
        } else {
            Reply::V1
        }
    }

    /// The exact bytes the parent writes (in one write, nothing appended). `NotUnderstood` and
    /// `NoReply` encode to nothing.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Capabilities(c) => format!("{GREETING_PREFIX}{}", c.bits()).into_bytes(),
            Reply::VersionNumber(n) => format!("{GREETING_PREFIX}{n}").into_bytes(),
            Reply::V2 => GREETING_V2.as_bytes().to_vec(),
            Reply::V1 => GREETING_V1.as_bytes().to_vec(),
            Reply::Localhost => REFUSE_LOCALHOST.as_bytes().to_vec(),
            Reply::AlreadyStreaming => REFUSE_ALREADY_STREAMING.as_bytes().to_vec(),
            Reply::Denied => REFUSE_DENIED.as_bytes().to_vec(),
            Reply::TooBusy => REFUSE_TOO_BUSY.as_bytes().to_vec(),
            Reply::NotAllowed => REFUSE_NOT_ALLOWED.as_bytes().to_vec(),
            Reply::NotUnderstood | Reply::NoReply => Vec::new(),
        }
    }

    /// Classifies the parent's first `recv` as a 1.37.1 child does: the whole buffer must equal
    /// a known string; the `version=` form needs 45 < len < 75 and a decimal number after the
    /// prefix. Empty input is [`Reply::NoReply`]. (A real child does not recognise `TooBusy` /
    /// `NotAllowed` but treats them like "not understood" — same postponement.)
    pub fn classify(buf: &[u8]) -> Reply {
        if buf.is_empty() {
            return Reply::NoReply;
        }
        let p = GREETING_PREFIX.as_bytes();
        if buf.len() > p.len() && buf.len() < 75 && buf.starts_with(p) {
            let digits = &buf[p.len()..];
            // atoi-like: leading digits; a greeting without any digit is version 0
            let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
            let v = super::number::parse_u64(&digits[..n]).unwrap_or(0);
            return match v {
                0 | 1 => Reply::V1,
                2 => Reply::V2,
                3..=5 => Reply::VersionNumber(v as u8),
                _ => Reply::Capabilities(Capabilities::from_version(v, true)),
            };
        }
        for (s, r) in [
            (GREETING_V2, Reply::V2),
            (GREETING_V1, Reply::V1),
            (REFUSE_LOCALHOST, Reply::Localhost),
            (REFUSE_ALREADY_STREAMING, Reply::AlreadyStreaming),
            (REFUSE_DENIED, Reply::Denied),
            (REFUSE_TOO_BUSY, Reply::TooBusy),
            (REFUSE_NOT_ALLOWED, Reply::NotAllowed),
        ] {
            if buf == s.as_bytes() {
                return r;
            }
        }
        Reply::NotUnderstood
    }

    /// True for the greetings (the session goes on).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Reply::Capabilities(_) | Reply::VersionNumber(_) | Reply::V2 | Reply::V1
        )
    }

    /// The protocol version number a greeting carries, for [`negotiate_child`].
    pub fn version_number(&self) -> Option<u64> {
        match self {
            Reply::Capabilities(c) => Some(u64::from(c.bits())),
            Reply::VersionNumber(n) => Some(u64::from(*n)),
            Reply::V2 => Some(2),
            Reply::V1 => Some(1),
            _ => None,
        }
    }

    /// Seconds a 1.37.1 child postpones this destination after the reply (0 = success).
    pub fn postpone_secs(&self) -> u64 {
        match self {
            r if r.is_success() => 0,
            Reply::Localhost => 3600,
            Reply::AlreadyStreaming => 120,
            Reply::Denied | Reply::TooBusy | Reply::NotAllowed | Reply::NotUnderstood => 60,
            Reply::NoReply => 30,
            _ => 60,
        }
    }

    /// The reason a 1.37.1 child logs, for our own log lines.
    pub fn reason(&self) -> &'static str {
        match self {
            r if r.is_success() => "connected",
            Reply::Localhost => "remote server rejected this stream, the host we are trying to stream is its localhost",
            Reply::AlreadyStreaming => "remote server rejected this stream, the host we are trying to stream is already streamed to it",
            Reply::Denied => "remote server denied access, probably we don't have the right API key?",
            Reply::TooBusy => "remote server is too busy to accept this stream now",
            Reply::NotAllowed => "remote server does not allow streaming from this address",
            Reply::NoReply => "timeout while expecting first response",
            _ => "remote node response is not understood, is it Netdata?",
        }
    }
}

/// Seconds a 1.37.1 child postpones a destination when sending the request failed or timed out.
pub const POSTPONE_SEND_FAILED_SECS: u64 = 60;
/// Seconds a 1.37.1 child postpones a destination after a TLS failure.
pub const POSTPONE_SSL_ERROR_SECS: u64 = 300;

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(ver: Option<u64>) -> Vec<u8> {
        // a 1.37.1 parent with compression enabled
        Reply::greeting_for(negotiate_parent(ver, Capabilities::NETDATA_1_37_ALL, true)).encode()
    }

    #[test]
    fn parent_negotiation_matches_the_lab_results() {
        let g = |s: &str| s.as_bytes().to_vec();
        assert_eq!(parent(Some(16376)), g("Hit me baby, push them over with the version=16320"));
        assert_eq!(parent(Some(15352)), g("Hit me baby, push them over with the version=15296"));
        assert_eq!(parent(Some(8)), g(GREETING_V1));
        assert_eq!(parent(Some(5)), g("Hit me baby, push them over with the version=5"));
        assert_eq!(parent(Some(4)), g("Hit me baby, push them over with the version=4"));
        assert_eq!(parent(Some(3)), g("Hit me baby, push them over with the version=3"));
        assert_eq!(parent(Some(2)), g(GREETING_V2));
        assert_eq!(parent(Some(1)), g(GREETING_V1));
        assert_eq!(parent(Some(0)), g(GREETING_V1));
        assert_eq!(parent(Some(999_999)), g("Hit me baby, push them over with the version=4"));
        assert_eq!(parent(None), g(GREETING_V1));
        assert_eq!(GREETING_PREFIX.len(), 45);
    }

    #[test]
    fn parent_recipes_of_section_3_4() {
        let ours = Capabilities::PARENT_UNCOMPRESSED;
        assert_eq!(negotiate_parent(Some(16376), ours, true).bits(), 15296);
        let no_repl = ours.without(Capabilities::REPLICATION);
        assert_eq!(negotiate_parent(Some(16376), no_repl, true).bits(), 11200);
        // compression disabled by configuration is cleared even if both sides have it
        let c = negotiate_parent(Some(16376), Capabilities::NETDATA_1_37_ALL, false);
        assert!(!c.contains(Capabilities::COMPRESSION));
        assert!(negotiate_parent(Some(16376), Capabilities::NETDATA_1_37_ALL, true)
            .contains(Capabilities::COMPRESSION));
    }

    #[test]
    fn child_classifies_every_reply_and_knows_the_postponements() {
        let cases: [(&[u8], Reply, u64); 10] = [
            (b"Hit me baby, push them over with the version=15296", Reply::Capabilities(Capabilities(15296)), 0),
            (b"Hit me baby, push them over with the version=4", Reply::VersionNumber(4), 0),
            (GREETING_V2.as_bytes(), Reply::V2, 0),
            (GREETING_V1.as_bytes(), Reply::V1, 0),
            (REFUSE_LOCALHOST.as_bytes(), Reply::Localhost, 3600),
            (REFUSE_ALREADY_STREAMING.as_bytes(), Reply::AlreadyStreaming, 120),
            (REFUSE_DENIED.as_bytes(), Reply::Denied, 60),
            (b"HTTP/1.1 400 Bad Request\r\n\r\nI don't understand you...", Reply::NotUnderstood, 60),
            (b"", Reply::NoReply, 30),
            (b"Hit me baby, push them over...\n", Reply::NotUnderstood, 60),
        ];
        for (buf, want, secs) in cases {
            let got = Reply::classify(buf);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(buf));
            assert_eq!(got.postpone_secs(), secs);
        }
        for r in [Reply::Localhost, Reply::AlreadyStreaming, Reply::Denied, Reply::TooBusy, Reply::NotAllowed, Reply::V1, Reply::V2, Reply::VersionNumber(5), Reply::Capabilities(Capabilities(15296))] {
            assert_eq!(Reply::classify(&r.encode()), r);
        }
    }

    #[test]
    fn child_ands_with_its_compiled_set() {
        let compiled = Capabilities::NETDATA_1_37_ALL;
        assert_eq!(negotiate_child(15296, compiled).bits(), 15296);
        assert_eq!(negotiate_child(5, compiled), Capabilities(32 | 128 | 256 | 512 | 1024));
        assert_eq!(negotiate_child(1, compiled), Capabilities::V1);
        // a parent granting a bit not offered still gets it (compiled, not offered)
        assert!(negotiate_child(16320, compiled).contains(Capabilities::COMPRESSION));
        assert!(!negotiate_child(16320, Capabilities::NETDATA_1_37_NO_COMPRESSION).contains(Capabilities::COMPRESSION));
    }
}
