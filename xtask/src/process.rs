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
/// process it started.
///
/// With `capture`, its stderr is joined to its stdout (through `sh -c 'exec ... 2>&1'`,
/// so both are one pipe and keep the order in which they were written: cargo's
/// `Running` line on stderr stays before the test binary's result on stdout); that
/// output is still shown as it comes, line by line, and also returned.
pub fn run(cmd: &mut Command, limit: Duration, capture: bool) -> std::io::Result<Finished> {
    let mut merged;
    let cmd = if capture {
        merged = Command::new("sh");
        merged.arg("-c").arg("exec \"$0\" \"$@\" 2>&1").arg(cmd.get_program()).args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            merged.current_dir(dir);
        }
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => merged.env(key, value),
                None => merged.env_remove(key),
            };
        }
        merged.stdout(Stdio::piped());
        &mut merged
    } else {
        cmd
    };
    cmd.stdin(Stdio::null());
    let mut child = cmd.spawn()?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tee(out, Arc::clone(&lines)));
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

/// Copies a pipe to our stdout line by line and keeps each line.
fn tee(pipe: impl Read + Send + 'static, keep: Arc<Mutex<Vec<String>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let _ = std::io::stdout().write_all(&buf);
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

/// The parent pid, from `/proc/<pid>/stat` (the fields after the command name in
/// parentheses are: state, ppid, ...).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_keeps_the_order_across_stdout_and_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"]);
        let done = run(&mut cmd, Duration::from_secs(10), true).unwrap();
        assert!(done.status.unwrap().success());
        let expected: Vec<String> = (1..=5).flat_map(|i| [format!("out{i}"), format!("err{i}")]).collect();
        assert_eq!(done.lines, expected);
    }

    #[test]
    fn a_command_over_its_limit_is_killed_with_its_children() {
        let mut cmd = Command::new("sh");
        // A grandchild that would outlive a plain kill of the child; its pid is printed.
        cmd.args(["-c", "sleep 60 & echo $!; wait"]);
        let started = Instant::now();
        let done = run(&mut cmd, Duration::from_millis(500), true).unwrap();
        assert!(done.status.is_none(), "not reported as killed");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        let grandchild: u32 = done.lines[0].parse().unwrap();
        // Gone, or a zombie waiting for init to reap it: either way no longer running.
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        let state = state.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
        assert!(matches!(state, None | Some(Some('Z'))), "grandchild {grandchild} still runs: {state:?}");
    }
}
