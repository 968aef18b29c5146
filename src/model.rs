//! Netdata's metadata model: host → chart (`type.id`) → dimension.
//!
//! These types are shared by every layer: the stream parser produces them, the
//! collectors declare them, the store persists them and the API serves them.
//! Field names follow Netdata's wire protocol (`netdata-stream-1.37.md` §5.2).

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (Netdata's `time_t`).
pub type UnixTime = i64;

/// A label `name = value` with Netdata's source bit set (1 AUTO, 2 CONFIG, 4 K8S, 8 ACLK,
/// 1<<29 PERMANENT).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
    pub source: u32,
}

/// A host (a machine whose metrics we hold), keyed by its machine GUID.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostMeta {
    /// Machine GUID, lower-case textual UUID.
    pub guid: String,
    pub hostname: String,
    /// Registry hostname, program name/version, timezone, abbrev_timezone, utc_offset, tags...
    /// plus every `NETDATA_SYSTEM_*`/`NETDATA_HOST_*` key of the stream request, verbatim.
    pub system_info: Vec<(String, String)>,
    pub labels: Vec<Label>,
    /// Distance from the collecting agent: 0 = our own host, 1 = a direct child, ...
    pub hops: u32,
    /// Default update every of the host, seconds.
    pub update_every: u32,
    /// Claimed (cloud) id, if any.
    pub claim_id: Option<String>,
}

/// Chart type as on the wire (`line`, `area`, `stacked`); unknown words read as `line`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartType {
    #[default]
    Line,
    Area,
    Stacked,
}

impl ChartType {
    pub fn parse(s: &str) -> Self {
        match s {
            "area" => Self::Area,
            "stacked" => Self::Stacked,
            _ => Self::Line,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Area => "area",
            Self::Stacked => "stacked",
        }
    }
}

/// A chart definition (`CHART` line plus labels).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartMeta {
    /// Full id `type.id`, e.g. `system.cpu`.
    pub id: String,
    /// Full name `type.name`; equals `id` when the chart has no separate name.
    pub name: String,
    pub title: String,
    pub units: String,
    pub family: String,
    pub context: String,
    pub chart_type: ChartType,
    pub priority: i64,
    /// Seconds between points (>= 1).
    pub update_every: u32,
    /// Options words: `obsolete`, `detail`, `store_first`, `hidden`.
    pub options: String,
    pub plugin: String,
    pub module: String,
    pub labels: Vec<Label>,
}

impl ChartMeta {
    /// The `type` part of `type.id`.
    pub fn type_part(&self) -> &str {
        self.id.split_once('.').map_or(self.id.as_str(), |(t, _)| t)
    }
    pub fn is_obsolete(&self) -> bool {
        self.options.split_ascii_whitespace().any(|w| w == "obsolete")
    }
}

/// Collection algorithm of a dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    #[default]
    #[serde(rename = "absolute")]
    Absolute,
    #[serde(rename = "incremental")]
    Incremental,
    #[serde(rename = "percentage-of-absolute-row")]
    PercentageOfAbsoluteRow,
    #[serde(rename = "percentage-of-incremental-row")]
    PercentageOfIncrementalRow,
}

impl Algorithm {
    /// Netdata reads any unknown word as `absolute`.
    pub fn parse(s: &str) -> Self {
        match s {
            "incremental" => Self::Incremental,
            "percentage-of-absolute-row" => Self::PercentageOfAbsoluteRow,
            "percentage-of-incremental-row" => Self::PercentageOfIncrementalRow,
            _ => Self::Absolute,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Absolute => "absolute",
            Self::Incremental => "incremental",
            Self::PercentageOfAbsoluteRow => "percentage-of-absolute-row",
            Self::PercentageOfIncrementalRow => "percentage-of-incremental-row",
        }
    }
}

/// A dimension definition (`DIMENSION` line).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimMeta {
    pub id: String,
    /// Display name; equals `id` when not given.
    pub name: String,
    pub algorithm: Algorithm,
    /// Never 0 (0 reads as 1).
    pub multiplier: i64,
    /// Never 0 (0 reads as 1).
    pub divisor: i64,
    /// Options words: `obsolete`, `hidden`, `noreset`, `nooverflow`.
    pub options: String,
}

impl DimMeta {
    pub fn has_option(&self, word: &str) -> bool {
        self.options.split_ascii_whitespace().any(|w| w == word)
    }
}
