//! SIGINT and SIGTERM during `run`: the handler only raises a flag (all a signal handler may safely do);
//! the run polls it once per simulated second and between output steps, stops, and removes its staging
//! folder. A second signal terminates at once, removing nothing more.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static TEMPORARY: Mutex<Option<PathBuf>> = Mutex::new(None);

extern "C" fn on_signal(signal: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; restoring the default action makes a second signal final.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

pub fn install() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic and calls signal(), both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// An error once a signal has arrived, so that `?` unwinds the run and its temporaries.
pub fn check() -> std::io::Result<()> {
    if requested() {
        Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted by a signal",
        ))
    } else {
        Ok(())
    }
}

pub fn set_temporary(path: Option<PathBuf>) {
    if let Ok(mut t) = TEMPORARY.lock() {
        *t = path;
    }
}
