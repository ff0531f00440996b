//! Running a step's command with a time limit, optionally keeping a copy of its output.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a command ended.
pub struct Finished {
    /// Its exit status, or `None` if it overran its time limit and was killed.
    pub status: Option<ExitStatus>,
    /// Its stdout and stderr lines, in arrival order, when captured.
    pub lines: Vec<String>,
}

/// Runs `cmd` to completion or until `limit`, when it is killed together with every
/// process it started. With `capture`, its output is still shown as it comes, line by
/// line, and also returned.
pub fn run(cmd: &mut Command, limit: Duration, capture: bool) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null());
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tee(out, Arc::clone(&lines), false));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tee(err, Arc::clone(&lines), true));
    }

    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            eprintln!("xtask: time limit of {limit:?} reached: killing pid {} and its children", child.id());
            kill_tree(child.id());
            let _ = child.kill();
            child.wait()?;
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Finished { status, lines })
}

/// Copies a pipe to our stdout or stderr line by line and keeps each line.
fn tee(
    pipe: impl Read + Send + 'static,
    keep: Arc<Mutex<Vec<String>>>,
    to_stderr: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if to_stderr {
                let _ = std::io::stderr().write_all(&buf);
            } else {
                let _ = std::io::stdout().write_all(&buf);
            }
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_owned();
            keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    })
}

/// SIGKILLs every descendant of `root` (found through /proc), deepest first, then
/// `root`. Run twice, for children started while the first pass ran.
fn kill_tree(root: u32) {
    for _ in 0..2 {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some(ppid) = parent_of(pid) {
                    children.entry(ppid).or_default().push(pid);
                }
            }
        }
        let mut order = Vec::new();
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            order.push(pid);
            stack.extend(children.get(&pid).into_iter().flatten());
        }
        let pids: Vec<String> = order.iter().rev().map(u32::to_string).collect();
        let _ = Command::new("sh")
            .arg("-c")
            .arg("kill -s KILL \"$@\" 2>/dev/null")
            .arg("sh")
            .args(&pids)
            .status();
    }
}

/// The parent pid, from /proc/<pid>/stat (the fields after the command name in
/// parentheses are: state, ppid, ...).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}
