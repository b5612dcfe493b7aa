//! rrgo: record-and-replay time-travel debugging for Go programs.
//!
//! `main` only parses the command line, sets up logging and maps errors to
//! the documented exit codes; the work lives in `commands`.

mod cli;
mod commands;
mod dap;
mod debugger;
mod describe;
mod elf;
mod error;
mod exit_status;
mod fasthash;
mod gobin;
mod goruntime;
mod govalue;
mod progress;
mod record;
mod replay;
mod syscall_names;
mod syscalls;
mod timeline;
mod trace_dir;
mod tracee;
mod ui;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    install_panic_hook();
    // Like other Unix tools, `rrgo dump | head` ends quietly when the pipe closes
    // (Rust ignores SIGPIPE by default, which would turn it into a panic).
    // SAFETY: restoring a default signal disposition at startup.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Before any thread exists, so every thread inherits it (see tracee::wait).
    let sigmask = tracee::wait::block_sigchld();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with code 0, usage errors with code 2.
            let _ = e.print();
            std::process::exit(e.exit_code());
        }
    };
    ui::set_quiet(cli.quiet);
    init_logging();

    let result = match &cli.command {
        Command::Record(args) => commands::record::run(args, sigmask),
        Command::Replay(args) => commands::replay::run(args),
        Command::Ls(args) => commands::ls::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Dump(args) => commands::dump::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Errors are shown even with -q: a silent failure helps nobody.
            eprintln!("rrgo: error: {e}");
            std::process::exit(e.failure.exit_code());
        }
    }
}

/// A bug in rrgo must still end with a clear message and a documented code, not a raw backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("rrgo: internal error (a bug in rrgo, please report it): {info}");
        std::process::exit(101);
    }));
}

/// `RRGO_LOG` takes a tracing filter (`debug`, `rrgo::record=trace`, …); logs go to stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RRGO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        // Colours only on a terminal: logs kept in files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
