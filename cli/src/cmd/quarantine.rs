//! `netdatactl quarantine`: keep children away from a restored parent while its sibling
//! parents fill its history, then let them back.
//!
//! Firewall rules only touch the parent's port (`--port`, TCP, incoming) and live in objects
//! of their own, so `off` removes exactly what `on` added:
//!
//! * iptables (and ip6tables, so IPv6 children are kept out too): chain `NETDATA-QUARANTINE`,
//!   jumped to from the top of `INPUT` for `-p tcp --dport PORT`; it accepts loopback
//!   (`-i lo`), then each sibling parent's address, and rejects everything else with a TCP
//!   reset (children fail over at once instead of timing out; established child streams are
//!   cut by the reset too).
//! * nftables: table `inet netdata_quarantine` with one `input` hook chain (priority -10),
//!   same rules.
//!
//! Loopback is always accepted: the parent's own API must stay reachable for `netdatactl`
//! (`--until-synced`, `status`) and local health checks. A child running on the parent's own
//! machine is therefore not blocked by the firewall; use `--keys` for that case.
//!
//! `--keys` is the firewall-free alternative: it disables the keys marked
//! `# netdatactl role: children` in stream.conf (and `off` enables exactly those again).
//!
//! State (what was applied) is kept in `CACHE/netdatactl-quarantine.json`.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};

use crate::conf::Paths;
use crate::error::{Error, Kind, Result};
use crate::{output, Ctx};

pub const CHAIN: &str = "NETDATA-QUARANTINE";
pub const NFT_TABLE: &str = "netdata_quarantine";
pub const STATE_FILE: &str = "netdatactl-quarantine.json";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Reject children on the parent's port; accept the sibling parents.
    On(OnArgs),
    /// Remove exactly what `on` added.
    Off(OffArgs),
    /// Tell whether a quarantine is on, and which.
    Show,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Iptables,
    Nftables,
}

#[derive(Debug, clap::Args)]
pub struct OnArgs {
    /// Addresses of the sibling parents to keep accepting (comma separated).
    #[arg(long, value_name = "IP[,IP...]", value_delimiter = ',', required_unless_present = "keys")]
    pub parents: Vec<IpAddr>,
    /// The parent's stream/API port.
    #[arg(long, default_value_t = 19999)]
    pub port: u16,
    /// Firewall to program.
    #[arg(long, value_enum, default_value_t = Backend::Iptables)]
    pub backend: Backend,
    /// Print the rules instead of applying them (no root needed).
    #[arg(long)]
    pub print: bool,
    /// Instead of firewalling, disable the keys marked `role: children` in stream.conf.
    #[arg(long)]
    pub keys: bool,
    /// Stay on until this parent reports replication done for all its hosts, then lift.
    #[arg(long)]
    pub until_synced: bool,
    /// Give up waiting after this long (`90s`, `10m`, `2h`); the quarantine then stays on.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub timeout: Duration,
    /// This parent's API for --until-synced (default: from [web] bind to).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Seconds between polls of --until-synced.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub interval: f64,
}

#[derive(Debug, clap::Args)]
pub struct OffArgs {
    /// Print the commands instead of running them.
    #[arg(long)]
    pub print: bool,
}

/// `90s`, `10m`, `2h`, `1d` or bare seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match &s[i..] {
                "ms" => 0.001,
                "s" | "sec" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                u => return Err(format!("unknown unit {u:?} (use s, m, h or d)")),
            };
            (&s[..i], m)
        }
        None => (s, 1.0),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a duration like 90s, 10m, 2h"))?;
    if !(0.0..=1e9).contains(&n) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(n * mult))
}

/// What `on` applied, persisted for `off` and `show`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub backend: Option<Backend>,
    pub port: u16,
    pub parents: Vec<IpAddr>,
    /// Keys disabled by `--keys` (enabled again by `off`).
    pub keys_disabled: Vec<String>,
    pub since: u64,
}

pub fn state_path(paths: &Paths) -> PathBuf {
    paths.cache_dir.join(STATE_FILE)
}

fn load_state(path: &Path) -> Result<Option<State>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::new(Kind::Config, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(Kind::Other, format!("{}: {e}", path.display()))),
    }
}

fn save_state(path: &Path, s: &State) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", d.display())))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", path.display())))?;
    Ok(())
}

/// One step of a firewall plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub argv: Vec<String>,
    pub stdin: Option<String>,
}

impl Step {
    fn new(argv: &[&str]) -> Self {
        Self { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None }
    }
    /// Shell form for `--print`.
    pub fn display(&self) -> String {
        match &self.stdin {
            Some(input) => format!("{} <<'EOF'\n{}EOF", self.argv.join(" "), input),
            None => self.argv.join(" "),
        }
    }
}

/// The iptables commands that install the quarantine for one family.
pub fn iptables_on(bin: &str, parents: &[IpAddr], port: u16) -> Vec<Step> {
    let port = port.to_string();
    let mut v = vec![Step::new(&[bin, "-w", "-N", CHAIN]), Step::new(&[bin, "-w", "-A", CHAIN, "-i", "lo", "-j", "ACCEPT"])];
    for p in parents {
        v.push(Step::new(&[bin, "-w", "-A", CHAIN, "-s", &p.to_string(), "-j", "ACCEPT"]));
    }
    v.push(Step::new(&[bin, "-w", "-A", CHAIN, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]));
    v.push(Step::new(&[bin, "-w", "-I", "INPUT", "1", "-p", "tcp", "--dport", &port, "-j", CHAIN]));
    v
}

/// The nft script that installs (or atomically replaces) the quarantine table.
pub fn nft_script(parents: &[IpAddr], port: u16) -> String {
    let v4: Vec<String> = parents.iter().filter(|p| p.is_ipv4()).map(|p| p.to_string()).collect();
    let v6: Vec<String> = parents.iter().filter(|p| p.is_ipv6()).map(|p| p.to_string()).collect();
    let mut s = format!("table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\ntable inet {NFT_TABLE} {{\n\tchain input {{\n\t\ttype filter hook input priority -10; policy accept;\n\t\tiifname \"lo\" tcp dport {port} accept\n");
    if !v4.is_empty() {
        s.push_str(&format!("\t\tip saddr {{ {} }} tcp dport {port} accept\n", v4.join(", ")));
    }
    if !v6.is_empty() {
        s.push_str(&format!("\t\tip6 saddr {{ {} }} tcp dport {port} accept\n", v6.join(", ")));
    }
    s.push_str(&format!("\t\ttcp dport {port} reject with tcp reset\n\t}}\n}}\n"));
    s
}

fn run_step(step: &Step) -> Result<String> {
    let (bin, args) = step.argv.split_first().ok_or_else(|| Error::new(Kind::Other, "empty command"))?;
    let mut cmd = Command::new(bin);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if step.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().map_err(|e| Error::new(Kind::Other, format!("running {bin}: {e} (is it installed?)")))?;
    if let (Some(input), Some(mut sin)) = (&step.stdin, child.stdin.take()) {
        sin.write_all(input.as_bytes()).map_err(|e| Error::new(Kind::Other, format!("{bin}: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::new(Kind::Other, format!("{bin}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let kind = if msg.contains("Permission denied") || msg.contains("Operation not permitted") { Kind::Permission } else { Kind::Other };
        return Err(Error::new(kind, format!("{} failed: {msg}", step.display())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Steps removing the iptables objects of one family, found from the live rule set (so a
/// rule added by hand elsewhere is never touched, and a missing chain is not an error).
fn iptables_off(bin: &str) -> Result<Vec<Step>> {
    let listing = match run_step(&Step::new(&[bin, "-w", "-S", "INPUT"])) {
        Ok(s) => s,
        Err(e) if e.kind == Kind::Other && e.to_string().contains("running") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut v = Vec::new();
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"-A") && words.windows(2).any(|w| w == ["-j", CHAIN]) {
            let mut argv = vec![bin.to_string(), "-w".to_string(), "-D".to_string()];
            argv.extend(words[1..].iter().map(|s| s.to_string()));
            v.push(Step { argv, stdin: None });
        }
    }
    if run_step(&Step::new(&[bin, "-w", "-S", CHAIN])).is_ok() {
        v.push(Step::new(&[bin, "-w", "-F", CHAIN]));
        v.push(Step::new(&[bin, "-w", "-X", CHAIN]));
    }
    Ok(v)
}

fn nft_present() -> bool {
    run_step(&Step::new(&["nft", "list", "table", "inet", NFT_TABLE])).is_ok()
}

fn iptables_present(bin: &str) -> bool {
    run_step(&Step::new(&[bin, "-w", "-S", CHAIN])).is_ok()
}

fn firewall_off_steps(backend: Backend) -> Result<Vec<Step>> {
    Ok(match backend {
        Backend::Iptables => {
            let mut v = iptables_off("iptables")?;
            v.extend(iptables_off("ip6tables")?);
            v
        }
        Backend::Nftables => {
            if nft_present() {
                vec![Step::new(&["nft", "delete", "table", "inet", NFT_TABLE])]
            } else {
                Vec::new()
            }
        }
    })
}

fn firewall_on_steps(a: &OnArgs) -> Vec<Step> {
    match a.backend {
        Backend::Iptables => {
            let v4: Vec<IpAddr> = a.parents.iter().copied().filter(IpAddr::is_ipv4).collect();
            let v6: Vec<IpAddr> = a.parents.iter().copied().filter(IpAddr::is_ipv6).collect();
            let mut v = iptables_on("iptables", &v4, a.port);
            v.extend(iptables_on("ip6tables", &v6, a.port));
            v
        }
        Backend::Nftables => vec![Step { argv: vec!["nft".into(), "-f".into(), "-".into()], stdin: Some(nft_script(&a.parents, a.port)) }],
    }
}

fn need_root(what: &str) -> Result<()> {
    if !crate::daemon::is_root() {
        return Err(Error::new(Kind::Permission, format!("{what} needs root (use --print to see the rules without applying them)")));
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<()> {
    let paths = Paths::load_or_default(&ctx.config)?;
    let spath = state_path(&paths);
    match args.action {
        Action::On(a) => on(ctx, &paths, &spath, a),
        Action::Off(a) => off(ctx, &paths, &spath, a.print),
        Action::Show => show(ctx, &spath),
    }
}

fn on(ctx: &mut Ctx<'_>, paths: &Paths, spath: &Path, a: OnArgs) -> Result<()> {
    if a.keys {
        return on_keys(ctx, paths, spath, &a);
    }
    let steps = firewall_on_steps(&a);
    if a.print {
        if ctx.json {
            let v: Vec<String> = steps.iter().map(Step::display).collect();
            return output::print_json(ctx.out, &serde_json::json!({"backend": a.backend, "commands": v}));
        }
        for s in &steps {
            writeln!(ctx.out, "{}", s.display())?;
        }
        return Ok(());
    }
    need_root("quarantine on")?;
    let prev = load_state(spath)?.unwrap_or_default();
    // Idempotent: remove whatever an earlier `on` left (of either backend), then add.
    for b in [Backend::Iptables, Backend::Nftables] {
        if prev.backend == Some(b) || b == a.backend {
            for s in firewall_off_steps(b)? {
                run_step(&s)?;
            }
        }
    }
    let state = State { backend: Some(a.backend), port: a.port, parents: a.parents.clone(), keys_disabled: prev.keys_disabled.clone(), since: now() };
    save_state(spath, &state)?;
    for s in &steps {
        if let Err(e) = run_step(s) {
            // Leave nothing half-installed.
            if let Ok(undo) = firewall_off_steps(a.backend) {
                for u in undo {
                    let _ = run_step(&u);
                }
            }
            return Err(e);
        }
    }
    report_on(ctx, &state)?;
    if a.until_synced {
        wait_and_lift(ctx, paths, spath, &a)?;
    }
    Ok(())
}

fn report_on(ctx: &mut Ctx<'_>, state: &State) -> Result<()> {
    if ctx.json {
        return output::print_json(ctx.out, &serde_json::json!({"quarantine": "on", "state": state}));
    }
    match state.backend {
        Some(b) => writeln!(
            ctx.out,
            "quarantine on ({}, port {}): accepting {} and loopback, rejecting everyone else",
            match b {
                Backend::Iptables => "iptables chain NETDATA-QUARANTINE",
                Backend::Nftables => "nftables table inet netdata_quarantine",
            },
            state.port,
            state.parents.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        )?,
        None => writeln!(ctx.out, "quarantine on (keys disabled: {})", state.keys_disabled.join(", "))?,
    }
    Ok(())
}

fn on_keys(ctx: &mut Ctx<'_>, paths: &Paths, spath: &Path, a: &OnArgs) -> Result<()> {
    let path = paths.stream_conf();
    let doc = crate::conf::Doc::load(&path)?;
    let children: Vec<super::keys::KeyInfo> =
        super::keys::list_keys(&doc).into_iter().filter(|k| k.role.as_deref() == Some("children") && k.kind == "api").collect();
    if children.is_empty() {
        return Err(Error::new(
            Kind::NotFound,
            format!("{}: no key is marked `# netdatactl role: children` (see `netdatactl keys add --role children`)", path.display()),
        ));
    }
    if a.print {
        for k in children.iter().filter(|k| k.enabled) {
            writeln!(ctx.out, "netdatactl keys disable {}", k.key)?;
        }
        return Ok(());
    }
    let mut state = load_state(spath)?.unwrap_or_default();
    for k in children.iter().filter(|k| k.enabled) {
        if super::keys::set_enabled(&path, &k.key, false)? && !state.keys_disabled.contains(&k.key) {
            state.keys_disabled.push(k.key.clone());
        }
    }
    state.since = now();
    save_state(spath, &state)?;
    super::keys::reload(ctx, paths, false)?;
    report_on(ctx, &state)?;
    if a.until_synced {
        wait_and_lift(ctx, paths, spath, a)?;
    }
    Ok(())
}

fn off(ctx: &mut Ctx<'_>, paths: &Paths, spath: &Path, print: bool) -> Result<()> {
    let state = load_state(spath)?;
    let backend = state.as_ref().and_then(|s| s.backend);
    let keys = state.as_ref().map(|s| s.keys_disabled.clone()).unwrap_or_default();
    if print {
        if let Some(b) = backend {
            for s in firewall_off_steps(b)? {
                writeln!(ctx.out, "{}", s.display())?;
            }
        }
        for k in &keys {
            writeln!(ctx.out, "netdatactl keys enable {k}")?;
        }
        return Ok(());
    }
    if backend.is_some() {
        need_root("quarantine off")?;
    }
    let mut removed = 0;
    // Also clean up objects of a quarantine whose state file was lost (root only).
    let backends: Vec<Backend> = match backend {
        Some(b) => vec![b],
        None if crate::daemon::is_root() => {
            let mut v = Vec::new();
            if iptables_present("iptables") || iptables_present("ip6tables") {
                v.push(Backend::Iptables);
            }
            if nft_present() {
                v.push(Backend::Nftables);
            }
            v
        }
        None => Vec::new(),
    };
    for b in backends {
        for s in firewall_off_steps(b)? {
            run_step(&s)?;
            removed += 1;
        }
    }
    let mut enabled = Vec::new();
    if !keys.is_empty() {
        let path = paths.stream_conf();
        for k in &keys {
            match super::keys::set_enabled(&path, k, true) {
                Ok(_) => enabled.push(k.clone()),
                Err(e) if e.kind == Kind::NotFound => ctx.note(format!("warning: {e}")),
                Err(e) => return Err(e),
            }
        }
        super::keys::reload(ctx, paths, false)?;
    }
    if state.is_some() {
        std::fs::remove_file(spath).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", spath.display())))?;
    }
    if ctx.json {
        return output::print_json(ctx.out, &serde_json::json!({"quarantine": "off", "firewall_commands": removed, "keys_enabled": enabled}));
    }
    if state.is_none() && removed == 0 {
        writeln!(ctx.out, "quarantine was not on")?;
    } else {
        writeln!(ctx.out, "quarantine off")?;
    }
    Ok(())
}

fn show(ctx: &mut Ctx<'_>, spath: &Path) -> Result<()> {
    let state = load_state(spath)?;
    let root = crate::daemon::is_root();
    let live = match state.as_ref().and_then(|s| s.backend) {
        Some(Backend::Iptables) if root => Some(iptables_present("iptables")),
        Some(Backend::Nftables) if root => Some(nft_present()),
        _ => None,
    };
    if ctx.json {
        return output::print_json(ctx.out, &serde_json::json!({"on": state.is_some(), "state": state, "rules_present": live, "state_file": spath}));
    }
    match state {
        None => writeln!(ctx.out, "quarantine off")?,
        Some(s) => {
            report_on(ctx, &s)?;
            if !s.keys_disabled.is_empty() && s.backend.is_some() {
                writeln!(ctx.out, "keys disabled: {}", s.keys_disabled.join(", "))?;
            }
            writeln!(ctx.out, "since: {} (unix time)", s.since)?;
            match live {
                Some(false) => writeln!(ctx.out, "warning: the rules are no longer in the firewall (reboot or flush?); run `quarantine off` to clear the state")?,
                Some(true) => {}
                None if s.backend.is_some() => writeln!(ctx.out, "(run as root to check the live rules)")?,
                None => {}
            }
        }
    }
    Ok(())
}

/// Whether every host this parent reports has finished replicating. A host without a
/// `replication` object has nothing to replicate. Returns (synced, what is not).
pub fn local_synced(hosts: &[crate::streaming::HostState]) -> (bool, String) {
    use crate::streaming::ReplStatus;
    let pending: Vec<String> = hosts
        .iter()
        .filter(|h| h.replication.as_ref().is_some_and(|r| r.status != ReplStatus::Done))
        .map(|h| {
            let r = h.replication.as_ref();
            match r.and_then(|r| r.percent) {
                Some(p) => format!("{} ({p:.0}%)", h.hostname),
                None => h.hostname.clone(),
            }
        })
        .collect();
    if hosts.is_empty() {
        return (false, "no hosts reported yet".into());
    }
    (pending.is_empty(), if pending.is_empty() { "in sync".into() } else { format!("replicating: {}", pending.join(", ")) })
}

fn wait_and_lift(ctx: &mut Ctx<'_>, paths: &Paths, spath: &Path, a: &OnArgs) -> Result<()> {
    let url = crate::http::Url::parse(&a.url.clone().unwrap_or_else(|| paths.local_url()))?.with_path("/api/v1/streaming");
    let deadline = Instant::now() + a.timeout;
    let interval = Duration::from_secs_f64(a.interval.clamp(0.05, 3600.0));
    let mut last = String::new();
    loop {
        let (synced, why) = match crate::http::get_json(&url, Duration::from_secs(5)) {
            Ok(v) => local_synced(&crate::streaming::parse_streaming(&v)),
            Err(e) => (false, format!("{e}")),
        };
        if synced {
            ctx.note(format!("{url}: in sync; lifting the quarantine"));
            return off(ctx, paths, spath, false);
        }
        if why != last {
            ctx.note(format!("waiting: {why}"));
            last = why;
        }
        if Instant::now() + interval > deadline {
            return Err(Error::new(
                Kind::NotSynced,
                format!("not in sync after {:?} ({last}); the quarantine stays on: `netdatactl quarantine off` lifts it", a.timeout),
            ));
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn iptables_rules_accept_parents_and_loopback_then_reset() {
        let p: Vec<IpAddr> = vec!["10.0.0.2".parse().expect("ip")];
        let v: Vec<String> = iptables_on("iptables", &p, 19999).iter().map(Step::display).collect();
        assert_eq!(v[1], "iptables -w -A NETDATA-QUARANTINE -i lo -j ACCEPT");
        assert_eq!(v[2], "iptables -w -A NETDATA-QUARANTINE -s 10.0.0.2 -j ACCEPT");
        assert!(v[3].ends_with("-j REJECT --reject-with tcp-reset"));
        assert_eq!(v[4], "iptables -w -I INPUT 1 -p tcp --dport 19999 -j NETDATA-QUARANTINE");
    }

    #[test]
    fn nft_script_splits_families() {
        let p: Vec<IpAddr> = vec!["10.0.0.2".parse().expect("ip"), "fd00::2".parse().expect("ip")];
        let s = nft_script(&p, 20000);
        assert!(s.contains("ip saddr { 10.0.0.2 } tcp dport 20000 accept"));
        assert!(s.contains("ip6 saddr { fd00::2 } tcp dport 20000 accept"));
        assert!(s.contains("tcp dport 20000 reject with tcp reset"));
    }
}
