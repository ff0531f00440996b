//! A clean stop on SIGINT (Ctrl-C) and SIGTERM.
//!
//! The first signal sets a flag that the subcommands' loops check between bursts (and
//! at least every [`STOP_CHECK_INTERVAL`] when they wait), so they stop, print their
//! counters and exit normally. A second signal, when the first did not get the
//! program to stop, ends it at once with status 128 + signal number, as a shell
//! reports a killed program. Built on `signal-hook`, which keeps the signal handler
//! async-signal-safe (it only stores to an atomic).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Longest a loop should wait (for a packet, an interrupt, a connection) before it
/// looks at the stop flag again.
pub const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// A shared "please stop" flag, set by SIGINT/SIGTERM once [`StopFlag::install`] ran,
/// or by [`StopFlag::stop`]. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    flag: Arc<AtomicBool>,
}

impl StopFlag {
    /// A flag that only [`StopFlag::stop`] sets (for in-process use and tests).
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// A flag that SIGINT and SIGTERM set; a second such signal exits at once.
    pub fn install() -> io::Result<StopFlag> {
        let stop = StopFlag::new();
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as the previous signal left it:
            // false on the first signal (no exit), true on a second one.
            flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop.flag))?;
            flag::register(sig, Arc::clone(&stop.flag))?;
        }
        Ok(stop)
    }

    /// Whether a stop was asked for.
    pub fn should_stop(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Asks every holder of this flag to stop.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_is_seen_by_clones() {
        let a = StopFlag::new();
        let b = a.clone();
        assert!(!b.should_stop());
        a.stop();
        assert!(b.should_stop());
    }

    // The only test in this binary that raises a signal: SIGTERM without the handler
    // would kill the test process, so passing shows the handler is in place.
    #[test]
    fn sigterm_sets_the_flag_instead_of_killing() {
        let stop = StopFlag::install().unwrap();
        let seen_by = stop.clone();
        assert!(!stop.should_stop());
        signal_hook::low_level::raise(SIGTERM).unwrap();
        // raise() returns after the handler ran in this thread.
        assert!(seen_by.should_stop());
    }
}
