//! `quarantine` for real, in network namespaces: a "server" namespace runs a listener on the
//! parent port, a "parent" and a "child" namespace reach it over veth pairs. With the
//! quarantine on, the child is refused (TCP reset) and the parent gets through; `off` restores
//! the exact previous rule set. Needs root; skips loudly otherwise, but fails when `CI` is set.
//!
//! Addresses are 10.213.x.y *inside namespaces created here*; no packet leaves them.

mod common;

use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_netdatactl");
static SEQ: AtomicU32 = AtomicU32::new(0);

fn have_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    let tools = ["ip", "iptables", "ip6tables", "nft"].iter().all(|t| Command::new("sh").args(["-c", &format!("command -v {t}")]).output().map(|o| o.status.success()).unwrap_or(false));
    if root && tools {
        return true;
    }
    let msg = "SKIPPING quarantine network-namespace test: needs root, ip, iptables, ip6tables and nft";
    if std::env::var_os("CI").is_some() {
        panic!("{msg} (CI is set, so this is a failure)");
    }
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    false
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

fn must(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Three namespaces and a listener; everything is removed on drop, also when a test fails.
struct Lab {
    srv: String,
    par: String,
    chl: String,
    listener: Option<Child>,
    n: u32,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.listener.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.srv, &self.par, &self.chl] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Lab {
    fn new() -> Self {
        let n = SEQ.fetch_add(1, Ordering::SeqCst) + (std::process::id() % 50) * 4;
        let tag = format!("{}-{n}", std::process::id());
        let mut lab = Lab {
            srv: format!("ndq-srv-{tag}"),
            par: format!("ndq-par-{tag}"),
            chl: format!("ndq-chl-{tag}"),
            listener: None,
            n: n % 250,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for ns in [&lab.srv, &lab.par, &lab.chl] {
            must(&["ip", "netns", "add", ns]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let (srv, par, chl) = (lab.srv.clone(), lab.par.clone(), lab.chl.clone());
        for (i, other) in [(0u32, &par), (1u32, &chl)] {
            let a = format!("vq{n}s{i}");
            let b = format!("vq{n}o{i}");
            must(&["ip", "link", "add", &a, "netns", &srv, "type", "veth", "peer", "name", &b, "netns", other]);
            let base = i * 4;
            must(&["ip", "-n", &srv, "addr", "add", &format!("10.213.{}.{}/30", lab.n, base + 1), "dev", &a]);
            must(&["ip", "-n", other, "addr", "add", &format!("10.213.{}.{}/30", lab.n, base + 2), "dev", &b]);
            must(&["ip", "-n", &srv, "link", "set", &a, "up"]);
            must(&["ip", "-n", other, "link", "set", &b, "up"]);
        }
        // A firewall that already has rules of its own (as every real host does).
        must(&["ip", "netns", "exec", &srv, "iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"]);
        must(&["ip", "netns", "exec", &srv, "ip6tables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"]);
        must(&["ip", "netns", "exec", &srv, "nft", "add", "table", "inet", "baseline"]);
        // The parent's port: a listener that accepts and closes (this test binary as a helper).
        let child = common::helper(&["ip", "netns", "exec", &srv], "listen:19999");
        lab.listener = Some(child);
        std::fs::write(lab.conf(), format!("[directories]\n\tcache = {}\n", lab.dir.path().display())).expect("conf");
        lab
    }

    fn conf(&self) -> std::path::PathBuf {
        self.dir.path().join("netdata.conf")
    }

    fn srv_addr(&self, from_child: bool) -> String {
        format!("10.213.{}.{}", self.n, if from_child { 5 } else { 1 })
    }

    fn parent_addr(&self) -> String {
        format!("10.213.{}.2", self.n)
    }

    /// Connects from `ns` to the server; Ok on connect, Err(stderr) otherwise.
    fn connect(&self, ns: &str, addr: &str) -> Result<(), String> {
        let o = run(&["ip", "netns", "exec", ns, "timeout", "5", "bash", "-c", &format!("exec 3<>/dev/tcp/{addr}/19999")]);
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr)))
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let conf = self.conf();
        let mut v: Vec<&str> = vec!["netns", "exec", &self.srv, BIN, "--config", conf.to_str().expect("utf8")];
        v.extend_from_slice(args);
        Command::new("ip").args(&v).output().expect("netdatactl")
    }

    /// The rule sets, without counters and generation comments.
    fn rules(&self) -> String {
        let mut s = String::new();
        for cmd in [["iptables-save"].as_slice(), &["ip6tables-save"], &["nft", "list", "ruleset"]] {
            let mut v = vec!["netns", "exec", &self.srv];
            v.extend_from_slice(cmd);
            let o = Command::new("ip").args(&v).output().expect("save");
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                if l.starts_with('#') {
                    continue;
                }
                let l = match l.find(" [") {
                    Some(i) if l.starts_with(':') => &l[..i],
                    _ => l,
                };
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

fn quarantine_refuses_child_and_admits_parent(backend: &str) {
    if !have_root() {
        return;
    }
    let lab = Lab::new();
    let (srv_p, srv_c) = (lab.srv_addr(false), lab.srv_addr(true));
    lab.connect(&lab.par, &srv_p).expect("parent before quarantine");
    lab.connect(&lab.chl, &srv_c).expect("child before quarantine");
    let before = lab.rules();

    let o = lab.ctl(&["quarantine", "on", "--parents", &lab.parent_addr(), "--backend", backend]);
    assert!(o.status.success(), "on: {}", String::from_utf8_lossy(&o.stderr));
    let during = lab.rules();
    assert_ne!(before, during);
    lab.connect(&lab.par, &srv_p).expect("a sibling parent must get through");
    let refused = lab.connect(&lab.chl, &srv_c).expect_err("a child must be refused");
    assert!(refused.contains("refused"), "child must get a reset, not a timeout: {refused}");
    lab.connect(&lab.srv, "127.0.0.1").expect("loopback stays open");

    // Idempotent: a second `on` leaves the same rules.
    let o = lab.ctl(&["quarantine", "on", "--parents", &lab.parent_addr(), "--backend", backend]);
    assert!(o.status.success(), "on again: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(during, lab.rules());
    let show = lab.ctl(&["--json", "quarantine", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
    assert_eq!(v["on"], true);
    assert_eq!(v["rules_present"], true);

    let o = lab.ctl(&["quarantine", "off"]);
    assert!(o.status.success(), "off: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(before, lab.rules(), "off must restore the exact previous rule set");
    lab.connect(&lab.chl, &srv_c).expect("child after quarantine");
    let show = lab.ctl(&["--json", "quarantine", "show"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
    assert_eq!(v["on"], false);
}

#[test]
fn helper_process() {
    common::helper_main();
}

#[test]
fn quarantine_iptables_refuses_child_admits_parent_and_off_restores_rules() {
    quarantine_refuses_child_and_admits_parent("iptables");
}

#[test]
fn quarantine_nftables_refuses_child_admits_parent_and_off_restores_rules() {
    quarantine_refuses_child_and_admits_parent("nftables");
}
