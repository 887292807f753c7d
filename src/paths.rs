//! Default locations of the config file and state directory.
//!
//! - run as root: `/etc/telemetron/config.yaml`, state in
//!   `/var/lib/telemetron`;
//! - Linux user: `$XDG_CONFIG_HOME/telemetron/config.yaml` (default
//!   `~/.config`), state in `$XDG_STATE_HOME/telemetron` (default
//!   `~/.local/state`);
//! - macOS user: both in `~/Library/Application Support/telemetron`.

use std::path::{Path, PathBuf};

/// Default paths for the current user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The config file.
    pub config_file: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
}

impl Defaults {
    /// Defaults for whoever runs this process.
    pub fn for_user(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Defaults {
        Defaults::compute(is_root(), cfg!(target_os = "macos"), home, env)
    }

    /// Defaults for a given situation (separate so tests cover every case).
    pub fn compute(
        root: bool,
        macos: bool,
        home: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Defaults {
        let (config_dir, state_dir) = if root {
            (PathBuf::from("/etc/telemetron"), PathBuf::from("/var/lib/telemetron"))
        } else if macos {
            let d = home.join("Library/Application Support/telemetron");
            (d.clone(), d)
        } else {
            let xdg = |var: &str, fallback: &str| {
                env(var)
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .unwrap_or_else(|| home.join(fallback))
                    .join("telemetron")
            };
            (xdg("XDG_CONFIG_HOME", ".config"), xdg("XDG_STATE_HOME", ".local/state"))
        };
        Defaults { config_file: config_dir.join("config.yaml"), state_dir }
    }
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The home directory: `$HOME`, else the password database's entry for the
/// effective user (systemd services and cron may run without `HOME`).
pub fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<PathBuf> {
    if let Some(h) = env("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    passwd_home().ok_or_else(|| {
        anyhow::anyhow!("cannot tell the home directory: HOME is unset; set HOME or pass --home")
    })
}

/// The effective user's home directory from the password database.
fn passwd_home() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, `buf` outlives the use
    // of `pwd`'s fields, and `result` is checked before it is read.
    let rc = unsafe {
        libc::getpwuid_r(libc::geteuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result)
    };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points to a NUL-terminated string inside `buf`.
    let dir = unsafe { CStr::from_ptr(pwd.pw_dir) };
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}

/// Replaces a leading `~` with the home directory.
pub fn expand_tilde(p: &Path, home: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_uses_system_paths() {
        let d = Defaults::compute(true, false, Path::new("/root"), &|_| None);
        assert_eq!(d.config_file, PathBuf::from("/etc/telemetron/config.yaml"));
        assert_eq!(d.state_dir, PathBuf::from("/var/lib/telemetron"));
    }

    #[test]
    fn linux_users_use_xdg() {
        let d = Defaults::compute(false, false, Path::new("/home/u"), &|_| None);
        assert_eq!(d.config_file, PathBuf::from("/home/u/.config/telemetron/config.yaml"));
        assert_eq!(d.state_dir, PathBuf::from("/home/u/.local/state/telemetron"));
        let env = |k: &str| (k == "XDG_STATE_HOME").then(|| "/x/state".to_string());
        let d = Defaults::compute(false, false, Path::new("/home/u"), &env);
        assert_eq!(d.state_dir, PathBuf::from("/x/state/telemetron"));
    }

    #[test]
    fn macos_users_use_application_support() {
        let d = Defaults::compute(false, true, Path::new("/Users/u"), &|_| None);
        assert_eq!(d.state_dir, PathBuf::from("/Users/u/Library/Application Support/telemetron"));
        assert_eq!(d.config_file, d.state_dir.join("config.yaml"));
    }

    #[test]
    fn tilde_expands() {
        assert_eq!(expand_tilde(Path::new("~/a"), Path::new("/h")), PathBuf::from("/h/a"));
        assert_eq!(expand_tilde(Path::new("/abs"), Path::new("/h")), PathBuf::from("/abs"));
    }

    #[test]
    fn home_comes_from_the_environment_or_the_password_database() {
        let h = home_dir(&|k| (k == "HOME").then(|| "/from/env".into())).unwrap();
        assert_eq!(h, PathBuf::from("/from/env"));
        // Without HOME the password database answers for the current user.
        assert!(home_dir(&|_| None).is_ok());
    }
}
