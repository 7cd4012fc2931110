//! `servesim`: the command line: the subcommands and exit codes. Each subcommand is one function of
//! the `servesim` library (`src/lib.rs`); the simulation itself lives in the `sim` crate.

use clap::{Parser, Subcommand};
use servesim::{accuracy, calibrate, compare, latency, plan, profile, run, sweep};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "servesim", version, about = "Capacity planning for ML model serving: simulate before you spend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario and write summary.json, run.json, timeseries.csv and the report.
    Run(run::RunArgs),
    /// Check a scenario file without running it.
    Validate {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Price file replacing the bundled catalog.
        #[arg(long)]
        prices: Option<PathBuf>,
    },
    /// Sweep parameters and find the cheapest configuration that meets the SLO; write sweep.csv,
    /// pareto.csv and best.toml.
    Sweep(sweep::SweepArgs),
    /// Join the journals of sharded sweeps into what a single run would have written.
    Merge(sweep::MergeArgs),
    /// Sweep, pick the cheapest configuration meeting the SLO, run it in full, and write the
    /// report, the data and best.toml.
    Plan(plan::PlanArgs),
    /// Rebuild report.html from the files a run or plan wrote.
    Report {
        /// The run's or plan's output folder.
        dir: PathBuf,
    },
    /// Run a scenario (a plan's best.toml, say) and exit 1 with the reason if its SLO or a cost
    /// ceiling is not met: a capacity gate for CI.
    Check(plan::CheckArgs),
    /// Compare serving one model online, precomputed nightly by a batch job, or on the client's
    /// device: cost per million predictions, latency and staleness (table and chart).
    Compare(compare::CompareArgs),
    /// Predict a catalog model's latency on a catalog device or from a measured profile, with the
    /// per-operator breakdown and where each number comes from.
    Latency(latency::LatencyArgs),
    /// Print the catalog GPUs' estimates against the published latencies they are calibrated on
    /// (Markdown: per device, out of sample, every point).
    Accuracy(accuracy::AccuracyArgs),
    /// Measure operators on this host's CPU or GPU and write a profile CSV.
    Profile(profile::ProfileArgs),
    /// Fit a scenario's per-request overhead, threads, core sharing and service-time scale to a
    /// real server's load test; write the calibrated scenario and a hold-out check.
    Calibrate(calibrate::CalibrateArgs),
    /// Print the JSON Schema of the scenario format, for editors that check TOML as it is typed
    /// (Taplo, VS Code's Even Better TOML).
    Schema,
}

/// Die quietly on a closed pipe (`servesim latency … | head`) instead of panicking in `println!`,
/// as command-line tools are expected to.
#[cfg(unix)]
fn restore_default_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: called once at start-up, before any thread exists; resets a signal disposition.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

/// A failed write to standard output (`servesim schema > /dev/full`) is bad ground under the
/// command, not a bug: `print!` reports it by panicking, which this turns into the one-line error
/// and exit code 2 that every other failed write gets. Any other panic keeps Rust's report.
fn stdout_failure_exits_2() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(reason) = message.strip_prefix("failed printing to stdout: ") {
            eprintln!("error: cannot write to standard output: {reason}");
            std::process::exit(2);
        }
        default_hook(info);
    }));
}

fn main() {
    #[cfg(unix)]
    restore_default_sigpipe();
    stdout_failure_exits_2();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Validate { scenario, prices } => run::validate(&scenario, prices.as_deref()),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge(args) => sweep::merge(&args),
        Command::Plan(args) => plan::plan(&args),
        Command::Report { dir } => run::report(&dir),
        Command::Check(args) => plan::check(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Latency(args) => latency::latency(&args),
        Command::Accuracy(args) => accuracy::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Calibrate(args) => calibrate::calibrate(&args),
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&sim::scenario::schema()).expect("a schema serialises");
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{schema}")
                .and_then(|()| stdout.flush())
                .map_err(|e| servesim::error::CliError::input(format!("cannot write to standard output: {e}")))
        }
    };
    if let Err(error) = result {
        // Bad input gets one line whatever it carries; a failed check (exit 1) may list its reasons.
        let message = if error.code == 2 { servesim::error::escaped(&error.message) } else { error.message };
        eprintln!("error: {message}");
        std::process::exit(error.code);
    }
}
