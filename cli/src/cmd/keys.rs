//! `netdatactl keys`: list, add, enable and disable the stream API keys of `stream.conf`.
//!
//! Edits keep every other byte of the file (see `conf::Doc`); the running daemon is then sent
//! SIGHUP (found through the locked pid file in its cache directory) so the change applies at
//! once — the daemon drops live streams whose key was disabled.
//!
//! A key's role is a comment line directly above its section: `# netdatactl role: children`.

use std::path::Path;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};

use crate::conf::{parse_bool, Doc, Paths};
use crate::error::{Error, Kind, Result};
use crate::{output, Ctx};

const ROLE_PREFIX: &str = "netdatactl role:";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Table of keys: key, type, enabled, allow from, role, live streams using it.
    List(ListArgs),
    /// Add a new key (a random UUID) and print it.
    Add(AddArgs),
    /// Enable a key (`enabled = yes`) and reload the daemon.
    Enable(KeyArgs),
    /// Disable a key (`enabled = no`) and reload the daemon; its live streams are dropped.
    Disable(KeyArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// API of this parent for the live stream count (default: from [web] bind to).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Keys children use to stream to this parent.
    Children,
    /// Keys sibling parents use to stream to this parent.
    Parents,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Children => "children",
            Role::Parents => "parents",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Who uses the key (recorded as a comment above its section).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// Netdata simple pattern of client IPs allowed to use the key.
    #[arg(long, value_name = "PATTERN", default_value = "*")]
    pub allow_from: String,
    /// Add the key disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Do not signal the running daemon.
    #[arg(long)]
    pub no_reload: bool,
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The API key (a UUID section of stream.conf).
    pub key: String,
    /// Do not signal the running daemon.
    #[arg(long)]
    pub no_reload: bool,
}

/// One key as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
    pub allow_from: String,
    pub role: Option<String>,
    /// Live streams using it (None: the daemon did not tell).
    pub live_streams: Option<usize>,
}

/// Every UUID section of `stream.conf` with its settings. `enabled` defaults to no for API
/// keys and yes for machine GUIDs, as in Netdata 1.37.
pub fn list_keys(doc: &Doc) -> Vec<KeyInfo> {
    doc.section_index()
        .into_iter()
        .filter(|s| uuid::Uuid::parse_str(&s.name).is_ok())
        .map(|s| {
            let kind = s.keys.get("type").cloned().unwrap_or_else(|| "api".to_string());
            let default_enabled = kind == "machine";
            KeyInfo {
                enabled: s.keys.get("enabled").and_then(|v| parse_bool(v)).unwrap_or(default_enabled),
                allow_from: s.keys.get("allow from").cloned().unwrap_or_else(|| "*".to_string()),
                role: s.comments_above.iter().rev().find_map(|c| c.strip_prefix(ROLE_PREFIX).map(|r| r.trim().to_string())),
                live_streams: None,
                kind,
                key: s.name,
            }
        })
        .collect()
}

pub fn role_of(doc: &Doc, section: &str) -> Option<String> {
    doc.comments_above(section).iter().rev().find_map(|c| c.strip_prefix(ROLE_PREFIX).map(|r| r.trim().to_string()))
}

fn load_stream_conf(paths: &Paths) -> Result<(std::path::PathBuf, Doc)> {
    let p = paths.stream_conf();
    if !p.exists() {
        return Err(Error::new(
            Kind::Config,
            format!("{}: no stream.conf (looked beside {} and in [directories] config)", p.display(), paths.netdata_conf.display()),
        ));
    }
    Ok((p.clone(), Doc::load(&p)?))
}

/// Sets `enabled` of `key` in the stream.conf at `path`. Returns whether the file changed.
/// An unknown key is a `NotFound` error naming the file.
pub fn set_enabled(path: &Path, key: &str, enabled: bool) -> Result<bool> {
    let mut doc = Doc::load(path)?;
    let key = canonical_key(key)?;
    if doc.section_header(&key).is_none() {
        let known: Vec<String> = list_keys(&doc).into_iter().map(|k| k.key).collect();
        return Err(Error::new(
            Kind::NotFound,
            format!("{key}: no such key in {} (known: {})", path.display(), if known.is_empty() { "none".into() } else { known.join(", ") }),
        ));
    }
    let changed = doc.set(&key, "enabled", if enabled { "yes" } else { "no" });
    if changed {
        doc.save(path)?;
    }
    Ok(changed)
}

fn canonical_key(key: &str) -> Result<String> {
    uuid::Uuid::parse_str(key.trim())
        .map(|_| key.trim().to_string())
        .map_err(|_| Error::new(Kind::Usage, format!("{key:?} is not an API key (a UUID like 11111111-2222-3333-4444-555555555555)")))
}

/// Signals the daemon of `paths` unless `no_reload`; notes what happened on stderr.
pub fn reload(ctx: &mut Ctx<'_>, paths: &Paths, no_reload: bool) -> Result<Option<u32>> {
    if no_reload {
        return Ok(None);
    }
    match crate::daemon::reload(&paths.cache_dir)? {
        Some(pid) => {
            ctx.note(format!("netdatad (pid {pid}) reloaded stream.conf"));
            Ok(Some(pid))
        }
        None => {
            ctx.note(format!("no netdatad holds {}; the change applies at its next start", paths.cache_dir.display()));
            Ok(None)
        }
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<()> {
    let paths = Paths::load_or_default(&ctx.config)?;
    match args.action {
        Action::List(a) => {
            let (_, doc) = load_stream_conf(&paths)?;
            let mut keys = list_keys(&doc);
            let url = a.url.unwrap_or_else(|| paths.local_url());
            let live = crate::http::Url::parse(&url)
                .and_then(|u| crate::http::get_json(&u.with_path("/api/v1/streaming"), Duration::from_secs(3)))
                .map(|v| crate::streaming::parse_streaming(&v))
                .ok();
            if let Some(hosts) = &live {
                for k in &mut keys {
                    k.live_streams = Some(hosts.iter().filter(|h| h.live == Some(true) && h.api_key.as_deref() == Some(&k.key)).count());
                }
            }
            if ctx.json {
                return output::print_json(ctx.out, &keys);
            }
            let mut t = output::table(&["KEY", "TYPE", "ENABLED", "ALLOW FROM", "ROLE", "LIVE STREAMS"]);
            for k in &keys {
                t.add_row(vec![
                    k.key.clone(),
                    k.kind.clone(),
                    if k.enabled { "yes" } else { "no" }.to_string(),
                    k.allow_from.clone(),
                    k.role.clone().unwrap_or_else(|| "-".into()),
                    k.live_streams.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                ]);
            }
            output::print_table(ctx.out, t)
        }
        Action::Add(a) => {
            let path = paths.stream_conf();
            let mut doc = if path.exists() { Doc::load(&path)? } else { Doc::default() };
            let key = uuid::Uuid::new_v4().hyphenated().to_string();
            let comments: Vec<String> = a.role.map(|r| format!("{ROLE_PREFIX} {}", r.as_str())).into_iter().collect();
            let enabled = if a.disabled { "no" } else { "yes" };
            doc.append_section(&comments, &key, &[("type", "api"), ("enabled", enabled), ("allow from", &a.allow_from)]);
            doc.save(&path)?;
            let pid = reload(ctx, &paths, a.no_reload)?;
            if ctx.json {
                return output::print_json(
                    ctx.out,
                    &serde_json::json!({"key": key, "role": a.role, "allow_from": a.allow_from, "enabled": !a.disabled, "file": path, "reloaded_pid": pid}),
                );
            }
            writeln!(ctx.out, "{key}")?;
            Ok(())
        }
        Action::Enable(a) => toggle(ctx, &paths, a, true),
        Action::Disable(a) => toggle(ctx, &paths, a, false),
    }
}

fn toggle(ctx: &mut Ctx<'_>, paths: &Paths, a: KeyArgs, enabled: bool) -> Result<()> {
    let (path, _) = load_stream_conf(paths)?;
    let changed = set_enabled(&path, &a.key, enabled)?;
    let pid = if changed { reload(ctx, paths, a.no_reload)? } else { None };
    let word = if enabled { "enabled" } else { "disabled" };
    if ctx.json {
        return output::print_json(ctx.out, &serde_json::json!({"key": a.key.trim(), "enabled": enabled, "changed": changed, "reloaded_pid": pid}));
    }
    if changed {
        writeln!(ctx.out, "{}: {word}", a.key.trim())?;
    } else {
        writeln!(ctx.out, "{}: already {word}", a.key.trim())?;
    }
    Ok(())
}

