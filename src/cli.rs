//! Command-line interface: the clap definitions, and nothing else.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// rrgo records a Go program once and replays it exactly, as often as you like.
///
/// Traces are directories under $RRGO_TRACE_DIR, or ~/.local/share/rrgo
/// (XDG_DATA_HOME) by default, named <program>-<n>; `latest-trace` links to
/// the newest one. Where a TRACE argument is optional, the latest trace is used.
///
/// Logs: RRGO_LOG=debug (or any tracing filter, e.g. RRGO_LOG=rrgo::record=trace).
#[derive(Debug, Parser)]
#[command(name = "rrgo", version, about, long_about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Silence rrgo's own messages on stderr (the program's output still passes through).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "\
Exit codes:
  record, replay -a   the recorded program's exit status (128+N if it died from signal N)
  0                   success (other commands)
  1                   an operational error (I/O, ptrace refused, program not found, ...)
  2                   usage error (or a Go release the Go-aware commands do not know)
  3                   the trace cannot be read (missing, not a trace, no events, corrupt or damaged,
                      other format version); replay -a of an incomplete trace (recording killed)
                      that ends before the program's exit
  4                   replay diverged from the recording
  101                 internal error (a bug in rrgo)";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a program under rrgo and record everything nondeterministic it does.
    ///
    /// Example: rrgo record ./server -port 8080
    /// The program's stdout/stderr pass through; rrgo exits with its status.
    Record(RecordArgs),
    /// Re-execute a recorded program deterministically.
    ///
    /// Examples:
    ///   rrgo replay -a                           replay the latest trace to the end
    ///   rrgo replay --goroutines --at 1200       goroutine dump just before event 1200
    ///   rrgo replay --goroutine 17 --reverse     goroutine 17's history, newest first
    ///   rrgo replay --signals                    where each signal went and what delayed it
    ///   rrgo replay --timeline run.html          goroutines over time, in a browser
    ///   rrgo replay --at 900 --print main.count  a package variable's value at event 900
    ///   rrgo replay --dap 127.0.0.1:2345         serve VS Code (Debug Adapter Protocol)
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// List recorded traces (newest last).
    Ls(LsArgs),
    /// Describe a trace: header, event counts per kind and thread, sizes.
    Info(InfoArgs),
    /// Print a trace's events (like `rr dump`).
    Dump(DumpArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Write the trace to this directory instead of the trace directory.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Keep this environment variable's value out of the trace (repeatable; a trailing `*` matches any ending, e.g. AWS_*). The program gets the real value; the trace holds a placeholder of the same length, `<redacted:XXH3>` padded with `*` (only `*`s below 27 bytes). A replay runs the program with the placeholder: exact if it does not use the value, a divergence if it computes with it.
    #[arg(long = "redact-env", value_name = "NAME", value_parser = crate::record::redact::parse_pattern)]
    pub redact_env: Vec<String>,

    /// The program to record, then its arguments (use `--` before arguments that start with `-`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROG ARGS"
    )]
    pub program: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Trace directory (default: the latest trace).
    #[arg(value_name = "TRACE")]
    pub trace: Option<PathBuf>,

    /// Autopilot: replay to the end without a debugger, reproducing the program's output and exit status.
    #[arg(short = 'a', long = "autopilot")]
    pub autopilot: bool,

    /// Serve the Debug Adapter Protocol on ADDR (e.g. 127.0.0.1:2345 or :2345) for VS Code and other editors.
    #[arg(long, value_name = "ADDR")]
    pub dap: Option<String>,

    /// With --dap: let a client's launch request open any recording (`traceDirPath`). By default only TRACE (or, without it, recordings under the trace directory) can be opened: a recording holds a program that replaying it runs.
    #[arg(long, requires = "dap")]
    pub dap_allow_any_trace: bool,

    /// With --dap: clients must send TOKEN as "rrgoToken" in their launch/attach arguments. Other users can read a command line (ps): prefer the environment variable RRGO_DAP_TOKEN.
    #[arg(long, value_name = "TOKEN", requires = "dap")]
    pub dap_token: Option<String>,

    /// With --dap: drop a client that has not sent initialize and a successful attach or launch within SECS seconds (0: wait forever), so that it cannot keep others out.
    #[arg(long, value_name = "SECS", requires = "dap", default_value_t = 10.0)]
    pub dap_handshake_timeout: f64,

    /// With --dap: keep serving clients one after another when a debug session ends (by default the server exits once the client that opened the recording disconnects, as `dlv dap` does, and takes the replayed program with it).
    #[arg(long, requires = "dap")]
    pub accept_multiclient: bool,

    /// Print the history of goroutine N (creation, every state change, with event numbers).
    #[arg(long, value_name = "N")]
    pub goroutine: Option<u64>,

    /// With --goroutine: list newest first.
    #[arg(long)]
    pub reverse: bool,

    /// Print a goroutine dump (like Go's SIGQUIT output) at --at EVENT (default: just before the program exits).
    #[arg(long)]
    pub goroutines: bool,

    /// The event at which --goroutines or --print is taken (the state just before it).
    #[arg(long, value_name = "EVENT")]
    pub at: Option<u64>,

    /// Print the value of a package-level variable (e.g. main.counter) at --at EVENT.
    #[arg(long, value_name = "SYMBOL")]
    pub print: Option<String>,

    /// Print the signal timeline: arrival and sender, the thread and goroutine that took it, the os/signal loop waking, the goroutine that received it and what it then waited for.
    #[arg(long)]
    pub signals: bool,

    /// Write a picture of the recording to FILE: goroutines × program time with their states, the signals, and who held the mutex a goroutine waited for. FILE.html: a self-contained page (no network; zoom with the wheel or the buttons); FILE.json: Chrome/Perfetto trace-event JSON (open it in ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<std::path::PathBuf>,

    /// Build the goroutine index (cached next to the trace) and exit: the
    /// DAP server runs this in its own process.
    #[arg(long, hide = true)]
    pub build_index: bool,

    /// Machine-readable output for --goroutines, --goroutine and --signals.
    #[arg(long)]
    pub json: bool,

    /// Let --goroutines, --goroutine, --signals and --dap read a program built by a Go release rrgo does not know (they refuse otherwise: they read the Go runtime's structures, which change between releases).
    #[arg(long)]
    pub allow_any_go: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Trace directory (default: the latest trace).
    #[arg(value_name = "TRACE")]
    pub trace: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Trace directory (default: the latest trace).
    #[arg(value_name = "TRACE")]
    pub trace: Option<PathBuf>,

    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,

    /// First event to print.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub from: u64,

    /// How many events to print (default: all).
    #[arg(long, value_name = "K")]
    pub count: Option<u64>,
}
