//! Output layouts of `/api/v1/data` (`netdata-values.md` §4.8), byte-exact with Netdata
//! 1.37.1 for `json`, `csv`, `array`, `ssv` and the `jsonwrap` envelope.

use std::fmt::Write as _;

use super::http::{utc_datetime, CT_JSON, CT_TEXT};
use super::numfmt::push_number;
use super::query::{Format, Options, QueryResult};

/// A JSON string literal (quotes included).
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Cells after the presentation options, and the dimensions kept.
struct View<'a> {
    r: &'a QueryResult,
    /// Indexes of visible dimensions.
    cols: Vec<usize>,
    /// Row indexes in output order.
    rows: Vec<usize>,
}

impl View<'_> {
    fn cell(&self, row: usize, col: usize) -> f64 {
        let d = self.r.dims.len();
        let o = self.r.params.options;
        let mut v = self.r.cells[row * d + col];
        if o.has(Options::PERCENTAGE) {
            let total: f64 = (0..d).map(|c| self.r.cells[row * d + c]).filter(|x| x.is_finite()).map(f64::abs).sum();
            if v.is_finite() {
                v = if total != 0.0 { v.abs() * 100.0 / total } else { 0.0 };
            }
        }
        if o.has(Options::ABSOLUTE) && v.is_finite() {
            v = v.abs();
        }
        if o.has(Options::NULL2ZERO) && !v.is_finite() {
            v = 0.0;
        }
        v
    }
    fn time(&self, row: usize) -> i64 {
        let t = self.r.times[row];
        if self.r.params.options.has(Options::MS) {
            t.saturating_mul(1000)
        } else {
            t
        }
    }
}

fn view(r: &QueryResult) -> View<'_> {
    let d = r.dims.len();
    let mut cols: Vec<usize> = (0..d).filter(|&c| r.dims[c].visible).collect();
    if r.params.options.has(Options::NONZERO) {
        let nz: Vec<usize> = cols
            .iter()
            .copied()
            .filter(|&c| (0..r.times.len()).any(|row| {
                let v = r.cells[row * d + c];
                v.is_finite() && v != 0.0
            }))
            .collect();
        if !nz.is_empty() {
            cols = nz;
        }
    }
    let mut rows: Vec<usize> = (0..r.times.len()).collect();
    if !r.params.options.has(Options::REVERSED) {
        rows.reverse();
    }
    View { r, cols, rows }
}

fn push_json_inner(out: &mut String, v: &View) {
    out.push_str("{\n \"labels\": [\"time\"");
    for &c in &v.cols {
        out.push(',');
        out.push_str(&json_str(&v.r.dims[c].meta.name));
    }
    out.push_str("],\n    \"data\":\n [\n");
    for (i, &row) in v.rows.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        let _ = write!(out, " [ {}", v.time(row));
        for &c in &v.cols {
            out.push(',');
            push_number(out, v.cell(row, c));
        }
        out.push(']');
    }
    out.push_str("\n]\n}");
}

fn push_csv(out: &mut String, v: &View, sep: &str, eol: &str) {
    out.push_str("time");
    for &c in &v.cols {
        out.push_str(sep);
        out.push_str(&v.r.dims[c].meta.name);
    }
    out.push_str(eol);
    let o = v.r.params.options;
    for &row in &v.rows {
        if o.has(Options::SECONDS) || o.has(Options::MS) {
            let _ = write!(out, "{}", v.time(row));
        } else {
            out.push_str(&utc_datetime(v.r.times[row]));
        }
        for &c in &v.cols {
            out.push_str(sep);
            push_number(out, v.cell(row, c));
        }
        out.push_str(eol);
    }
}

/// One value per row: the sum of the visible dimensions (max − min with `min2max`).
fn row_value(v: &View, row: usize) -> f64 {
    let vals: Vec<f64> = v.cols.iter().map(|&c| v.cell(row, c)).filter(|x| x.is_finite()).collect();
    if vals.is_empty() {
        return f64::NAN;
    }
    if v.r.params.options.has(Options::MIN2MAX) {
        let mn = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let mx = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        mx - mn
    } else {
        vals.iter().sum()
    }
}

fn push_values(out: &mut String, v: &View, sep: &str) {
    for (i, &row) in v.rows.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        push_number(out, row_value(v, row));
    }
}

/// Renders the result body and its content type.
pub fn render(r: &QueryResult) -> (&'static str, String) {
    let v = view(r);
    let wrap = r.params.options.has(Options::JSONWRAP);
    let mut inner = String::new();
    let ct = match r.params.format {
        Format::Json => {
            push_json_inner(&mut inner, &v);
            CT_JSON
        }
        Format::Csv | Format::Tsv => {
            let sep = if r.params.format == Format::Csv { "," } else { "\t" };
            push_csv(&mut inner, &v, sep, if wrap { "\n" } else { "\r\n" });
            CT_TEXT
        }
        Format::Array => {
            inner.push('[');
            push_values(&mut inner, &v, ",");
            inner.push(']');
            CT_JSON
        }
        Format::Ssv | Format::SsvComma => {
            push_values(&mut inner, &v, if r.params.format == Format::Ssv { " " } else { "," });
            CT_TEXT
        }
    };
    if !wrap {
        return (ct, inner);
    }
    let result = match r.params.format {
        Format::Json | Format::Array => inner,
        _ => json_str(&inner),
    };
    (CT_JSON, jsonwrap(r, &v, &result))
}

fn push_list<T>(out: &mut String, items: impl Iterator<Item = T>, mut f: impl FnMut(&mut String, T)) {
    out.push('[');
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, it);
    }
    out.push(']');
}

/// The query id Netdata prints as `id` and `name`.
pub fn query_id(r: &QueryResult) -> String {
    let p = &r.params;
    let dims = match &p.dimensions {
        Some(d) => format!("|{d}"),
        None => "*".into(),
    };
    let mut id = format!(
        "chart://host:{}/instance:{}/dimensions:{}/after:{}/before:{}/points:{}/group:{}/options:{}",
        r.host,
        r.chart.id,
        dims,
        p.after,
        p.before,
        p.points,
        p.group.name(),
        p.options.to_names()
    );
    if p.gtime > 0 {
        let _ = write!(id, "/resampling:{}", p.gtime);
    }
    if let Some(t) = p.tier {
        let _ = write!(id, "/tier:{t}");
    }
    id
}

fn jsonwrap(r: &QueryResult, v: &View, result: &str) -> String {
    let mut o = String::with_capacity(result.len() + 1024);
    let id = json_str(&query_id(r));
    o.push_str("{\n   \"api\": 1,\n");
    let _ = writeln!(o, "   \"id\": {id},");
    let _ = writeln!(o, "   \"name\": {id},");
    let _ = writeln!(o, "   \"view_update_every\": {},", r.view_update_every);
    let _ = writeln!(o, "   \"update_every\": {},", r.chart.update_every.max(1));
    let _ = writeln!(o, "   \"first_entry\": {},", r.first_entry);
    let _ = writeln!(o, "   \"last_entry\": {},", r.last_entry);
    let _ = writeln!(o, "   \"before\": {},", r.before);
    let _ = writeln!(o, "   \"after\": {},", r.after);
    let _ = writeln!(o, "   \"group\": \"{}\",", r.params.group.name());
    let _ = writeln!(o, "   \"options\": {},", json_str(&r.options.to_names()));
    o.push_str("   \"dimension_names\": ");
    push_list(&mut o, v.cols.iter(), |o, &c| o.push_str(&json_str(&r.dims[c].meta.name)));
    o.push_str(",\n   \"dimension_ids\": ");
    push_list(&mut o, v.cols.iter(), |o, &c| o.push_str(&json_str(&r.dims[c].meta.id)));
    o.push_str(",\n   \"functions\": [],\n   \"latest_values\": ");
    push_list(&mut o, v.cols.iter(), |o, &c| push_number(o, r.dims[c].latest));
    o.push_str(",\n   \"view_latest_values\": ");
    let newest = r.times.len().checked_sub(1);
    push_list(&mut o, v.cols.iter(), |o, &c| push_number(o, newest.map_or(f64::NAN, |row| v.cell(row, c))));
    let _ = write!(o, ",\n   \"dimensions\": {},\n   \"points\": {},\n", v.cols.len(), r.times.len());
    let _ = writeln!(o, "   \"format\": \"{}\",", r.params.format.name());
    o.push_str("   \"db_points_per_tier\": [ ");
    for (i, n) in r.tier_points.iter().enumerate() {
        if i > 0 {
            o.push_str(", ");
        }
        let _ = write!(o, "{n}");
    }
    o.push_str(" ],\n   \"result\": ");
    o.push_str(result);
    o.push_str(",\n \"min\": ");
    push_number(&mut o, r.min);
    o.push_str(",\n \"max\": ");
    push_number(&mut o, r.max);
    o.push_str("\n}\n");
    o
}
