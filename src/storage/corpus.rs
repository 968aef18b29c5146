//! The compact format of the benchmark corpus (`bench/corpus/*.ndc`): real per-second values
//! of a Netdata agent, as storage numbers, one column per series.
//!
//! File: `NDCORPS1`, version u32, crc32 of the rest u32, then an LZ4 block (size-prepended)
//! holding: series count (varint), and per series: chart id and dimension id (varint length +
//! UTF-8), update every (varint), first time (i64 LE), slot count (varint), then the slot words
//! as one [`codec`] column ([`StorageNumber::EMPTY`] marks a gap).

use super::codec::{self, put_varint, CodecError};
use super::number::{StorageNumber, FLAG_NOT_ANOMALOUS};
use crate::model::UnixTime;

const MAGIC: &[u8; 8] = b"NDCORPS1";
const MAX_SERIES: usize = 1 << 20;
const MAX_SLOTS: usize = 1 << 24;
const MAX_BYTES: usize = 1 << 30;

#[derive(Clone, Debug, PartialEq)]
pub struct CorpusSeries {
    pub chart: String,
    pub dim: String,
    pub update_every: u32,
    /// Time of `words[0]`; slot `i` is at `first + i * update_every`.
    pub first: UnixTime,
    pub words: Vec<u32>,
}

impl CorpusSeries {
    /// Non-gap points `(time, number)`.
    pub fn points(&self) -> impl Iterator<Item = (UnixTime, StorageNumber)> + '_ {
        self.words
            .iter()
            .enumerate()
            .filter(|(_, &w)| w != StorageNumber::EMPTY.0)
            .map(move |(i, &w)| {
                (
                    self.first + i as i64 * i64::from(self.update_every),
                    StorageNumber(w),
                )
            })
    }
}

/// Declares every corpus series in `store` under one host `host` (a chart per corpus chart id,
/// dimensions with multiplier and divisor 1), returning their series ids in corpus order.
pub fn declare(
    store: &dyn super::Store,
    series: &[CorpusSeries],
    host: &str,
) -> Result<Vec<super::SeriesId>, super::StoreError> {
    use crate::model::{ChartMeta, DimMeta, HostMeta};
    let h = store.put_host(&HostMeta {
        guid: host.into(),
        hostname: host.into(),
        update_every: 1,
        ..Default::default()
    })?;
    series
        .iter()
        .map(|c| {
            let chart = ChartMeta {
                id: c.chart.clone(),
                name: c.chart.clone(),
                update_every: c.update_every,
                ..Default::default()
            };
            let ch = store.put_chart(h, &chart)?;
            store.put_dimension(
                ch,
                &DimMeta {
                    id: c.dim.clone(),
                    name: c.dim.clone(),
                    multiplier: 1,
                    divisor: 1,
                    ..Default::default()
                },
            )
        })
        .collect()
}

pub fn encode(series: &[CorpusSeries]) -> Vec<u8> {
    let mut body = Vec::new();
    put_varint(&mut body, series.len() as u64);
    for s in series {
        for t in [&s.chart, &s.dim] {
            put_varint(&mut body, t.len() as u64);
            body.extend_from_slice(t.as_bytes());
        }
        put_varint(&mut body, u64::from(s.update_every));
        body.extend_from_slice(&s.first.to_le_bytes());
        put_varint(&mut body, s.words.len() as u64);
        codec::encode_column(&s.words, &mut body);
    }
    let packed = lz4_flex::block::compress_prepend_size(&body);
    let mut out = Vec::with_capacity(16 + packed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
    out.extend_from_slice(&packed);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<CorpusSeries>, CodecError> {
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(CodecError::Invalid("not a corpus file"));
    }
    if bytes[8..12] != 1u32.to_le_bytes() {
        return Err(CodecError::Invalid("unsupported corpus version"));
    }
    if bytes[12..16] != crc32fast::hash(&bytes[16..]).to_le_bytes() {
        return Err(CodecError::Invalid("corpus checksum mismatch"));
    }
    if bytes.len() >= 20
        && u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize > MAX_BYTES
    {
        return Err(CodecError::Invalid("corpus too large"));
    }
    let body = lz4_flex::block::decompress_size_prepended(&bytes[16..])
        .map_err(|_| CodecError::Invalid("corpus lz4"))?;
    let mut pos = 0;
    let n = codec::get_varint(&body, &mut pos)? as usize;
    if n > MAX_SERIES {
        return Err(CodecError::Invalid("too many series"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut text = || -> Result<String, CodecError> {
            let l = codec::get_varint(&body, &mut pos)? as usize;
            let b = body.get(pos..pos + l).ok_or(CodecError::Truncated(pos))?;
            pos += l;
            String::from_utf8(b.to_vec()).map_err(|_| CodecError::Invalid("name not UTF-8"))
        };
        let chart = text()?;
        let dim = text()?;
        let update_every = codec::get_varint(&body, &mut pos)? as u32;
        let first = body.get(pos..pos + 8).ok_or(CodecError::Truncated(pos))?;
        let first = i64::from_le_bytes([
            first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7],
        ]);
        pos += 8;
        let slots = codec::get_varint(&body, &mut pos)? as usize;
        if slots > MAX_SLOTS {
            return Err(CodecError::Invalid("too many slots"));
        }
        let mut words = Vec::new();
        let mut left = slots;
        // decode in page-sized pieces is not needed: one column per series
        while left > 0 {
            let take = left.min(codec::MAX_PAGE_POINTS);
            if take != left {
                return Err(CodecError::Invalid("series longer than one column"));
            }
            codec::decode_column(&body, &mut pos, take, &mut words)?;
            left -= take;
        }
        out.push(CorpusSeries {
            chart,
            dim,
            update_every: update_every.max(1),
            first,
            words,
        });
    }
    Ok(out)
}

/// Builds series from the raw JSON written by `bench/corpus/pull.py` (values as the agent's
/// API printed them, re-packed with the "not anomalous" flag every live point carries).
pub fn from_pull_json(v: &serde_json::Value) -> Vec<CorpusSeries> {
    let mut out = Vec::new();
    for s in v
        .get("series")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        let ue = s
            .get("update_every")
            .and_then(|u| u.as_u64())
            .unwrap_or(1)
            .max(1) as i64;
        let pts = s
            .get("points")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        let pts: Vec<(i64, Option<f64>)> = pts
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_i64()?, p.get(1).and_then(|x| x.as_f64()))))
            .collect();
        let Some(&(first, _)) = pts.first() else {
            continue;
        };
        let Some(&(last, _)) = pts.last() else {
            continue;
        };
        let n = ((last - first) / ue + 1).clamp(0, codec::MAX_PAGE_POINTS as i64) as usize;
        let mut words = vec![StorageNumber::EMPTY.0; n];
        for (t, v) in pts {
            let i = (t - first) / ue;
            if let (Some(v), Some(w)) = (v, words.get_mut(i as usize)) {
                *w = StorageNumber::pack(v, FLAG_NOT_ANOMALOUS).0;
            }
        }
        let text = |k: &str| {
            s.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        out.push(CorpusSeries {
            chart: text("chart"),
            dim: text("dim"),
            update_every: ue as u32,
            first,
            words,
        });
    }
    out
}
