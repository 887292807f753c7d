//! Exit codes, in one place (documented in `--help` and the README).

/// How a run ended.
///
/// Ordered by severity, so a run that hit several outcomes reports the
/// worst (`max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Exported, or nothing to do.
    Ok = 0,
    /// Exported, but some files could not be read.
    Partial = 1,
    /// Usage or configuration error.
    Config = 2,
    /// The export failed; the batch is kept for the next run.
    ExportFailed = 3,
    /// The state directory or lock could not be used.
    Local = 4,
    /// The collector refused a batch for good; its points were dropped
    /// and recorded.
    Dropped = 5,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_help_text() {
        for (e, n) in [
            (Exit::Ok, 0),
            (Exit::Partial, 1),
            (Exit::Config, 2),
            (Exit::ExportFailed, 3),
            (Exit::Local, 4),
        ] {
            assert_eq!(e as u8, n);
            assert!(crate::cli::EXIT_CODES_HELP.contains(&format!("  {n}  ")));
        }
    }
}
