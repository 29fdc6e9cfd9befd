//! `console:<command>`: any program that speaks the console line protocol on stdin/stdout (another
//! implementation, or a bridge to real hardware). Each link starts the program anew, so every case sees
//! a freshly booted device; its stderr (logs) is kept apart so it cannot interleave with replies;
//! its last lines are shown when the program fails to start.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::line::{LineLink, LineOptions};
use super::Dut;
use crate::link::{Link, LinkError, Transport};

/// A console program.
pub struct ProcessDut {
    command: String,
    opts: LineOptions,
    parallel: usize,
}

impl ProcessDut {
    /// `command` runs under `sh -c`.
    pub fn new(command: String, opts: LineOptions, parallel: usize) -> Self {
        Self {
            command,
            opts,
            parallel,
        }
    }
}

/// Kills the program when the link goes.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Dut for ProcessDut {
    fn label(&self) -> String {
        // The program's name, not the whole command line: it names a matrix column.
        let program = self.command.split_whitespace().next().unwrap_or_default();
        let name = program.rsplit('/').next().unwrap_or(program);
        format!("console:{name}")
    }

    fn transport(&self) -> Transport {
        Transport::Console
    }

    fn fresh_per_connect(&self) -> bool {
        true
    }

    fn parallelism(&self) -> usize {
        self.parallel
    }

    fn connect(&self, _boot: &super::Boot) -> Result<Box<dyn Link>, LinkError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LinkError::Unreachable(format!("cannot start {:?}: {e}", self.command)))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(LinkError::Unreachable("no stdin/stdout/stderr pipe".into()));
        };
        let tail = keep_tail(stderr);
        LineLink::new(
            Transport::Console,
            Box::new(stdout),
            Box::new(stdin),
            self.opts.clone(),
            Box::new(ChildGuard(child)),
        )
        .map(|l| Box::new(l) as Box<dyn Link>)
        .map_err(|e| match e {
            LinkError::Unreachable(why) => {
                // Give the program a moment to finish its last words.
                std::thread::sleep(std::time::Duration::from_millis(100));
                let t = tail.lock().map(|t| t.clone()).unwrap_or_default();
                LinkError::Unreachable(format!(
                    "{why}; its stderr ends with: {:?}",
                    String::from_utf8_lossy(&t).trim()
                ))
            }
            other => other,
        })
    }
}

/// Reads `stderr` on a thread, keeping its last 2 KiB.
fn keep_tail(mut stderr: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let tail = Arc::new(Mutex::new(Vec::new()));
    let t = tail.clone();
    let _ = std::thread::Builder::new()
        .name("console-stderr".into())
        .spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = t.lock() {
                    t.extend_from_slice(&buf[..n]);
                    let excess = t.len().saturating_sub(2048);
                    t.drain(..excess);
                }
            }
        });
    tail
}
