//! Advisory locks on boards and host radios, so two runs on one host (two CI jobs, a job and a
//! developer) never drive the same board or radio: `flock(2)` on one file per resource in the rack's
//! lock directory (`/run/lock/provlab` by default, as twister locks a board by its id). The kernel
//! drops a lock when its holder exits, however it exits; the file says who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock on `resource` (e.g. `board-rack1-c3-01`) in `dir`, waiting up to `wait` while
    /// someone else holds it. `what` says who we are, for whoever finds it held.
    pub fn acquire(dir: &Path, resource: &str, wait: Duration, what: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("lock directory {}: {e}", dir.display()))?;
        let path = dir.join(format!("{resource}.lock"));
        let deadline = Instant::now() + wait;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| format!("lock file {}: {e}", path.display()))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut held) => {
                    let _ = held.set_len(0);
                    let _ = held.rewind();
                    let _ = writeln!(held, "pid {} {what}", std::process::id());
                    return Ok(Self { _file: held, path });
                }
                Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        return Err(format!(
                            "{resource} is in use ({}; lock file {})",
                            holder.trim().if_empty("holder unknown"),
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err((_, e)) => return Err(format!("locking {}: {e}", path.display())),
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

trait IfEmpty {
    fn if_empty<'a>(&'a self, or: &'a str) -> &'a str;
}

impl IfEmpty for str {
    fn if_empty<'a>(&'a self, or: &'a str) -> &'a str {
        if self.is_empty() {
            or
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_keeps_others_out_until_dropped() {
        let dir = std::env::temp_dir().join(format!("hil-locks-{}", std::process::id()));
        let first = Lock::acquire(&dir, "board-x", Duration::ZERO, "test one").unwrap();
        let err =
            Lock::acquire(&dir, "board-x", Duration::from_millis(300), "test two").unwrap_err();
        assert!(err.contains("in use") && err.contains("test one"), "{err}");
        let other = Lock::acquire(&dir, "board-y", Duration::ZERO, "test").unwrap();
        drop(first);
        let again = Lock::acquire(&dir, "board-x", Duration::ZERO, "test three").unwrap();
        assert!(again.path().ends_with("board-x.lock"));
        drop((other, again));
        let _ = std::fs::remove_dir_all(dir);
    }
}
