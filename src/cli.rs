//! Command-line interface (clap derive). Flags only: every flag that has an
//! environment variable names it here, and [`crate::config`] layers the
//! config file and defaults underneath.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Compression, DurationValue, Encoding, Temporality};

/// Exit codes, shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  exported (or nothing to do, another run holds the lock, or telemetry is
     off: DO_NOT_TRACK, TELEMETRON_TELEMETRY=0, ~/.telemetron/telemetry-off …)
  1  exported, but some session files could not be read (see the warnings)
  2  usage or configuration error
  3  export failed; nothing was lost, the batch is sent again by the next run
  4  local error: the state directory or lock could not be used
  5  the collector refused a batch for good (HTTP 400/413/422): its points were
     dropped and recorded in the state, so later runs are not blocked";

/// Privacy-safe telemetry scanner for coding-agent sessions: reads the
/// bytes appended to session transcripts since the last run and sends
/// bounded OTLP counters, never their content.
#[derive(Debug, Parser)]
#[command(name = "telemetron", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan session files once and export the new counts (one run, then
    /// exit; schedule it with a systemd timer, launchd or cron).
    #[command(after_help = EXIT_CODES_HELP)]
    Scan(ScanArgs),
    /// Show whether telemetron is healthy: opt-out, config, endpoint, packs
    /// and files, unscanned bytes, the last runs, the pending batch and
    /// dropped points. Exits 1 when the last run failed or no run succeeded
    /// for three intervals (for monitoring), 2 on a configuration error.
    Status(StatusArgs),
    /// Put `telemetron scan` on the platform's scheduler (a systemd timer,
    /// a launchd job or a cron entry), take it off, or print what would be
    /// installed. Installing twice changes nothing.
    Schedule(ScheduleArgs),
    /// List the agents found on this machine (each pack's session places
    /// and file counts; as root, in every home under /home and /Users), and
    /// with --write-config put them all into one config file. Exits 1 when
    /// none is found.
    Detect(DetectArgs),
    /// Enroll anonymously with an enrollment service (the Go predecessor's
    /// `lowkey.enroll.v1` protocol) and write the token it returns to the
    /// token file (mode 0400). Exits 3 when the service refuses or cannot
    /// be reached.
    Enroll(EnrollArgs),
    /// From nothing to a scheduled, verified telemetron: detect the agents,
    /// write the config, enroll when no token is given (unless
    /// TELEMETRON_NO_AUTO_ENROLL=1), install the schedule and run a first
    /// scan, printing each step.
    Setup(SetupArgs),
    /// Tokens, cost and activity by day, week or month, per agent and
    /// model, from the local history (kept after the agents delete their
    /// transcripts): a table on a terminal, or JSON.
    Report(ReportArgs),
}

/// The period `report` sums over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Period {
    /// Calendar days.
    #[default]
    Daily,
    /// ISO weeks (from Monday).
    Weekly,
    /// Calendar months.
    Monthly,
}

/// Flags of `telemetron report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// daily, weekly or monthly.
    #[arg(value_enum, default_value_t)]
    pub period: Period,

    /// First day included (YYYY-MM-DD or YYYYMMDD, in --timezone).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,

    /// Last day included (YYYY-MM-DD or YYYYMMDD, in --timezone).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,

    /// Only these packs (repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub pack: Vec<String>,

    /// Only these models (as reported; repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub model: Vec<String>,

    /// Print JSON (the contract in docs/report.md) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Time zone of the days, e.g. Europe/Paris or UTC [default: local].
    #[arg(long, env = "TELEMETRON_TIMEZONE", value_name = "TZ")]
    pub timezone: Option<String>,

    /// Recount the history from the transcripts still on disk first (days
    /// whose transcripts are gone keep what was recorded).
    #[arg(long)]
    pub rebuild: bool,

    /// Settings shared with the other commands.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `telemetron setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Say what each step would do; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// One JSON event per step (`telemetron.setup.v1`).
    #[arg(long)]
    pub json: bool,

    /// Enroll here when there is no token file yet.
    #[arg(long, env = "TELEMETRON_ENROLL_ENDPOINT", value_name = "URL")]
    pub enroll_endpoint: Option<String>,

    /// Which scheduler, for whom, how often.
    #[command(flatten)]
    pub choice: SchedulerChoice,

    /// Settings shared with the other commands.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `telemetron enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The enrollment endpoint (no default: we name no vendor's service).
    #[arg(long, env = "TELEMETRON_ENROLL_ENDPOINT", value_name = "URL")]
    pub enroll_endpoint: String,

    /// The pack sent in the request [default: openclaw, as the predecessor].
    #[arg(long, default_value = "openclaw")]
    pub pack: String,

    /// Settings shared with the other commands (state dir for the install
    /// id, token file, tier, insecure endpoint).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Scheduler flags shared by `schedule` and `setup`.
#[derive(Debug, Args)]
pub struct SchedulerChoice {
    /// Use a systemd service and timer [default on Linux with systemd].
    #[arg(long, conflicts_with_all = ["launchd", "cron"])]
    pub systemd: bool,

    /// Use a launchd job [default on macOS].
    #[arg(long, conflicts_with = "cron")]
    pub launchd: bool,

    /// Use cron [default elsewhere].
    #[arg(long)]
    pub cron: bool,

    /// For the current user (`systemctl --user`, a LaunchAgent, the user's
    /// crontab) [default unless run as root].
    #[arg(long, conflicts_with = "system")]
    pub user: bool,

    /// System-wide [default when run as root].
    #[arg(long)]
    pub system: bool,

    /// Time between scans [default: 5m].
    #[arg(long, value_parser = parse_duration_arg)]
    pub interval: Option<DurationValue>,

    /// User the system-wide job runs as (whose agents are counted)
    /// [default: $SUDO_USER, else root].
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,

    /// The telemetron binary to schedule [default: this one].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,

    /// Write files under DIR instead of / (for packaging and tests).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// Flags of `telemetron detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Look only under DIR (the agents' own environment variables are then
    /// ignored).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Write the places found into the config file as `packs.<pack>.paths`
    /// (other keys are kept).
    #[arg(long)]
    pub write_config: bool,

    /// With --write-config: replace an existing `packs:` section.
    #[arg(long, requires = "write_config")]
    pub force: bool,

    /// The config file to write [default: as for scan].
    #[arg(long, env = "TELEMETRON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What `schedule` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleAction {
    /// Write the files and enable them.
    Install,
    /// Disable and delete them.
    Remove,
    /// Print the files and commands `install` would use.
    Print,
}

/// Flags of `telemetron schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// install, remove or print.
    #[arg(value_enum)]
    pub action: ScheduleAction,

    /// Which scheduler, for whom, how often.
    #[command(flatten)]
    pub choice: SchedulerChoice,
}

/// Flags of `telemetron scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Print the exact request a real run would send, then exit: sends
    /// nothing and writes nothing. Needs no config, endpoint or token.
    #[arg(long)]
    pub dry_run: bool,

    /// Count and record the local history (for `report`), but send
    /// nothing: for a machine with no collector. The positions advance,
    /// so what such a run counted is never sent later.
    #[arg(long, conflicts_with = "dry_run")]
    pub no_export: bool,

    /// Settings shared with the other commands.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `telemetron status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// How often scans are scheduled; no successful run for three of these
    /// makes the status unhealthy, e.g. 5m [default: 5m].
    #[arg(long, env = "TELEMETRON_INTERVAL", value_parser = parse_duration_arg)]
    pub interval: Option<DurationValue>,

    /// Settings shared with the other commands.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Settings flags shared by every command (each names its environment
/// variable; the config file and defaults lie underneath).
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Config file [default: /etc/telemetron/config.yaml as root, else the
    /// user's config dir].
    #[arg(long, env = "TELEMETRON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// OTLP/HTTP metrics endpoint, ending in /v1/metrics.
    #[arg(long, env = "TELEMETRON_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// File holding the bearer token [default: `token` beside the config
    /// file, if present].
    #[arg(long, env = "TELEMETRON_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Directory for state, lock and install id.
    #[arg(long, env = "TELEMETRON_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Body encoding [default: protobuf].
    #[arg(long, env = "TELEMETRON_ENCODING", value_enum)]
    pub encoding: Option<Encoding>,

    /// Body compression [default: none].
    #[arg(long, env = "TELEMETRON_COMPRESSION", value_enum)]
    pub compression: Option<Compression>,

    /// Temporality of the points [default: delta].
    #[arg(long, env = "TELEMETRON_TEMPORALITY", value_enum)]
    pub temporality: Option<Temporality>,

    /// Allow plain http to a non-loopback endpoint.
    #[arg(long, env = "TELEMETRON_INSECURE_ENDPOINT", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_endpoint: Option<bool>,

    /// Timeout of one HTTP attempt, e.g. 10s [default: 10s].
    #[arg(long, env = "TELEMETRON_TIMEOUT", value_parser = parse_duration_arg)]
    pub timeout: Option<DurationValue>,

    /// Time budget for all attempts of one export [default: 30s].
    #[arg(long, env = "TELEMETRON_RETRY_MAX_TIME", value_parser = parse_duration_arg)]
    pub retry_max_time: Option<DurationValue>,

    /// Longest line read; longer lines are skipped [default: 67108864].
    #[arg(long, env = "TELEMETRON_MAX_LINE_BYTES", value_name = "BYTES")]
    pub max_line_bytes: Option<u64>,

    /// Files with new data one batch reads at most; a run with more sends
    /// several batches in a row [default: 8000].
    #[arg(long, env = "TELEMETRON_MAX_BATCH_FILES", value_name = "N")]
    pub max_batch_files: Option<usize>,

    /// Scan threads, 0 = one per core [default: 0].
    #[arg(long, env = "TELEMETRON_THREADS")]
    pub threads: Option<usize>,

    /// Proxy for the export, http://[user:password@]host:port, or `none`
    /// [default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY unless NO_PROXY
    /// names the endpoint].
    #[arg(long, env = "TELEMETRON_PROXY", value_name = "URL")]
    pub proxy: Option<String>,

    /// PEM file of CA certificates to trust besides the public and system
    /// roots (a private CA).
    #[arg(long, env = "TELEMETRON_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(long, env = "TELEMETRON_CLIENT_CERT", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,

    /// PEM private key of --client-cert.
    #[arg(long, env = "TELEMETRON_CLIENT_KEY", value_name = "FILE")]
    pub client_key: Option<PathBuf>,

    /// A price list in LiteLLM's format whose entries add to or override
    /// the built-in one (model → input_cost_per_token, …, USD per token).
    #[arg(long, env = "TELEMETRON_PRICING", value_name = "FILE")]
    pub pricing: Option<PathBuf>,

    /// `deployment_id` resource attribute.
    #[arg(long, env = "TELEMETRON_DEPLOYMENT_ID")]
    pub deployment_id: Option<String>,

    /// `tier` resource attribute.
    #[arg(long, env = "TELEMETRON_TIER")]
    pub tier: Option<String>,

    /// `environment` resource attribute.
    #[arg(long, env = "TELEMETRON_ENVIRONMENT")]
    pub environment: Option<String>,

    /// Look for agents under DIR instead of $HOME (their own environment
    /// variables are then ignored).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
}

impl CommonArgs {
    /// A copy that reads the config file at `path`.
    pub fn clone_for_config(&self, path: &std::path::Path) -> CommonArgs {
        let mut c = self.clone();
        c.config = Some(path.to_path_buf());
        c
    }
}

/// clap value parser for durations.
fn parse_duration_arg(s: &str) -> Result<DurationValue, String> {
    crate::config::parse_duration(s).map(DurationValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"));
        assert!(help.contains("3  export failed"));
    }
}
