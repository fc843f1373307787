//! One boot of a scenario: its hosts, QEMU (TCG) with one `vfio-user-pci`
//! device per host, and the guest's serial console read line by line.

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use super::env::Env;
use super::host::{Host, Transport};
use super::initramfs;
use super::scenario::{Scenario, STATE_TAG};
use crate::results::{verdict, Outcome};

/// What one boot produced.
pub struct Boot {
    pub results: Vec<Outcome>,
    pub log: String,
    pub done: bool,
}

fn qemu_command(
    env: &Env,
    s: &Scenario,
    initramfs: &Path,
    hosts: &[Host],
    state: Option<&Path>,
) -> Command {
    let mut qemu = Command::new(&env.qemu);
    for d in &env.qemu_data {
        qemu.arg("-L").arg(d);
    }
    let mem = format!("{}M", s.memory_mib);
    qemu.args([
        "-machine",
        "pc,memory-backend=mem0",
        "-accel",
        &env.accel,
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        &mem,
    ])
    .args([
        "-object",
        &format!("memory-backend-memfd,id=mem0,size={mem},share=on"),
    ])
    .args(["-nodefaults", "-display", "none", "-serial", "stdio"])
    .arg("-kernel")
    .arg(&env.kernel)
    .arg("-initrd")
    .arg(initramfs)
    .args(["-append", "console=ttyS0 panic=-1 loglevel=5"]);
    match state {
        // The guest reboots itself once: QEMU resets and boots again.
        Some(dir) => {
            qemu.arg("-virtfs").arg(format!(
                "local,path={},mount_tag={STATE_TAG},security_model=none",
                dir.display()
            ));
        }
        None => {
            qemu.arg("-no-reboot");
        }
    }
    if s.hostroot {
        qemu.args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on",
        ]);
    }
    for (h, g) in hosts.iter().zip(&s.gpus) {
        qemu.arg("-device").arg(format!(
            r#"{{"driver":"vfio-user-pci","socket":{{"type":"unix","path":"{}"}}{}}}"#,
            h.socket.display(),
            g.qemu_props
        ));
    }
    qemu
}

/// Sends every line of `from` to `to`, prefixed.
fn forward_lines(from: impl Read + Send + 'static, prefix: &'static str, to: mpsc::Sender<String>) {
    thread::spawn(move || {
        BufReader::new(from)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| {
                let _ = to.send(format!("{prefix}{l}"));
            })
    });
}

/// A guest's request to freeze or resume host `i`: `@@STOP-HOST i` or
/// `@@CONT-HOST i`.
fn stop_request(line: &str) -> Option<(usize, libc::c_int, &'static str)> {
    let (rest, signal, what) = if let Some(rest) = line.strip_prefix("@@STOP-HOST ") {
        (rest, libc::SIGSTOP, "stopped")
    } else {
        (line.strip_prefix("@@CONT-HOST ")?, libc::SIGCONT, "resumed")
    };
    Some((rest.trim().parse().ok()?, signal, what))
}

/// Boots `s` and collects its results; `echo` prints the console (not the
/// `@@` protocol lines) as it comes.
pub fn boot(env: &Env, s: &Scenario, echo: bool) -> Result<Boot, String> {
    let dir = env.work.join(s.name);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let initramfs = initramfs::build(env, s, &dir)?;
    let mut hosts = Vec::new();
    for (i, g) in s.gpus.iter().enumerate() {
        hosts.push(Host::start(
            env,
            g,
            Transport::VfioUser,
            &dir.join(format!("vgpu{i}.sock")),
            &dir.join(format!("vgpu-host{i}.log")),
        )?);
    }
    // The share that tells a rebooting guest's boots apart, empty at start.
    let state = s.after_reboot.is_some().then(|| dir.join("state"));
    if let Some(state) = &state {
        let _ = fs::remove_dir_all(state);
        fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
    }
    let mut child = qemu_command(env, s, &initramfs, &hosts, state.as_deref())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", env.qemu.display()))?;
    let (tx, rx) = mpsc::channel::<String>();
    forward_lines(child.stdout.take().ok_or("no qemu stdout")?, "", tx.clone());
    forward_lines(child.stderr.take().ok_or("no qemu stderr")?, "qemu: ", tx);

    let deadline = Instant::now() + Duration::from_secs(env.boot_timeout_s + s.extra_seconds(env));
    let mut log = String::new();
    let mut results = Vec::new();
    let mut done = false;
    let mut before = None;
    loop {
        let line = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() > deadline {
                    log += "runner: guest timed out\n";
                    break;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let line = line.trim_end_matches('\r').to_string();
        if echo && !line.starts_with("@@") {
            println!("{line}");
        }
        log += &line;
        log.push('\n');
        if let Some(rest) = line.strip_prefix("@@RESULT ") {
            results.push(verdict(&format!("{}/", s.name), rest));
        } else if let Some(rest) = line.strip_prefix("@@CASE ") {
            results.push(verdict(&format!("{}/cuda-", s.name), rest));
        } else if let Some(i) = line.strip_prefix("@@KILL-HOST ") {
            if let Some(h) = i
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| hosts.get_mut(i))
            {
                h.kill();
                log += "runner: killed vgpu-host\n";
            }
        } else if let Some((i, signal, what)) = stop_request(&line) {
            if let Some(h) = hosts.get(i) {
                h.signal_tree(signal);
                log += &format!("runner: {what} vgpu-host {i}\n");
            }
        } else if let Some(when) = line.strip_prefix("@@FOOTPRINT ") {
            // What vgpu-host 0 holds: "before" a load run, then "after" it
            // (once its workers are gone), judged as `load-host-memory`.
            if let Some(h) = hosts.first() {
                match (when.trim(), before) {
                    ("before", _) => before = Some(h.footprint()),
                    ("after", Some(b)) => {
                        let after = super::load::settle(h, b.workers);
                        let (back, figures) = super::load::back_at_baseline(&b, None, &after);
                        log += &format!("runner: {figures}\n");
                        results.push((format!("{}/load-host-memory", s.name), back, figures));
                    }
                    _ => log += &format!("runner: bad footprint request {when:?}\n"),
                }
            }
        } else if line == "@@DONE" {
            done = true;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(hosts);
    fs::write(dir.join("serial.log"), &log).map_err(|e| e.to_string())?;
    Ok(Boot { results, log, done })
}

#[cfg(test)]
mod qemu_patches {
    /// The changed lines of a patch's hunks (from the first `@@` to the
    /// `-- ` signature of `git format-patch`, if any).
    fn changes(patch: &str) -> Vec<&str> {
        patch
            .lines()
            .skip_while(|l| !l.starts_with("@@"))
            .take_while(|l| *l != "-- ")
            .filter(|l| {
                (l.starts_with('+') && !l.starts_with("+++"))
                    || (l.starts_with('-') && !l.starts_with("---"))
            })
            .collect()
    }

    #[test]
    fn the_carried_fix_is_the_one_in_submission_format() {
        let carried = include_str!(
            "../../vm/qemu-patches/0001-vfio-user-no-double-error-on-socket-failure.patch"
        );
        let upstream = include_str!(
            "../../vm/qemu-patches/upstream/0001-vfio-user-do-not-set-the-error-twice-when-the-header.patch"
        );
        assert!(!changes(carried).is_empty());
        assert_eq!(changes(carried), changes(upstream));
        assert!(upstream.starts_with("From "), "git format-patch output");
        assert!(upstream.contains("\nSubject: [PATCH] vfio-user: "));
        assert!(upstream.contains("\nSigned-off-by: "));
    }
}
