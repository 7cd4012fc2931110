//! A progress line with an ETA for runs that take more than a few seconds: the runs add the
//! simulated time they have covered to a shared counter (`sim::RunOptions::progress`), and a
//! watcher thread draws the line on stderr (only on a terminal, as indicatif does).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs shorter than this never show a line.
const QUIET_FOR: Duration = Duration::from_secs(2);

pub struct Progress {
    counter: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Watches `total` simulated nanoseconds of work (replications × duration); `quiet` draws nothing.
    pub fn start(total: u64, what: &str, quiet: bool) -> Progress {
        Progress::watching(total, 1_000_000, what, quiet)
    }

    /// Watches `total` batches of batch jobs (each job's batches × its replications).
    pub fn batches(total: u64, what: &str, quiet: bool) -> Progress {
        Progress::watching(total, 1, what, quiet)
    }

    /// `total` units of work, counted in `per_step`s (the bar's steps).
    fn watching(total: u64, per_step: u64, what: &str, quiet: bool) -> Progress {
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = (!quiet).then(|| {
            let (counter, stop, what) = (counter.clone(), stop.clone(), what.to_string());
            std::thread::spawn(move || watch(total, per_step, &what, &counter, &stop))
        });
        Progress { counter, stop, watcher }
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        self.counter.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher.take() {
            watcher.thread().unpark();
            let _ = watcher.join();
        }
    }
}

fn watch(total: u64, per_step: u64, what: &str, counter: &AtomicU64, stop: &AtomicBool) {
    let started = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let length = (total / per_step).max(1);
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(Duration::from_millis(100));
        if bar.is_none() && started.elapsed() >= QUIET_FOR {
            let new = indicatif::ProgressBar::new(length);
            new.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {percent}% done · {elapsed} · ETA {eta} · {msg}")
                    .expect("a valid template"),
            );
            new.set_message(what.to_string());
            bar = Some(new);
        }
        if let Some(bar) = &bar {
            bar.set_position((counter.load(Ordering::Relaxed) / per_step).min(length));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
