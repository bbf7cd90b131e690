//! A progress bar on stderr for long simulations, counting simulated seconds.
//!
//! It is hidden when asked to be quiet or when stderr is not a terminal (pipes, CI logs), so that
//! redirected output stays clean. [`Progress::set`] is meant to be called from the event loop on every
//! event: it only touches indicatif when the whole simulated second changes, and indicatif itself limits
//! redraws to a few per second.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of one simulation run in simulated seconds.
pub struct Progress {
    bar: ProgressBar,
    total_sim_secs: u64,
    last_second: AtomicU64,
    visible: bool,
}

impl Progress {
    /// A bar for a run of `total_sim_secs` simulated seconds; invisible when `quiet` or stderr is not a TTY.
    pub fn new(total_sim_secs: u64, quiet: bool) -> Self {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = if visible {
            let bar = ProgressBar::with_draw_target(
                Some(total_sim_secs),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} simulated s ({percent}%, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            total_sim_secs,
            last_second: AtomicU64::new(u64::MAX),
            visible,
        }
    }

    /// True when the bar is actually drawn.
    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// Reports the current simulated time in seconds (fractions already truncated by the caller).
    pub fn set(&self, sim_secs: u64) {
        if self.last_second.swap(sim_secs, Ordering::Relaxed) != sim_secs {
            self.bar.set_position(sim_secs);
        }
    }

    /// The simulated second last reported, if any.
    pub fn position(&self) -> Option<u64> {
        match self.last_second.load(Ordering::Relaxed) {
            u64::MAX => None,
            secs => Some(secs),
        }
    }

    /// Completes the bar and removes it from the terminal.
    pub fn finish(&self) {
        self.set(self.total_sim_secs);
        self.bar.finish_and_clear();
    }
}
