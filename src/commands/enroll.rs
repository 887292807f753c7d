//! `telemetron enroll`: anonymous enrollment, compatible with the Go
//! predecessor's protocol (`lowkey.enroll.v1`).
//!
//! One JSON `POST` to the enroll endpoint with the install id and a hashed
//! machine id; the answer is a bearer token `lpk_enroll_<64 hex>` bound to
//! that install id, which must be echoed back. 409 means the install id is
//! enrolled to another machine (not retried); a 5xx or a transport error is
//! retried once after a short random delay; anything else fails. The token
//! is written with mode 0400 and no trailing newline.
//!
//! The machine id is the predecessor's, for compatibility with servers that
//! already know it: `sha256:` + hex SHA-256 of the trimmed `/etc/machine-id`
//! (or `/var/lib/dbus/machine-id`), a colon and the host name. It is sent
//! only here, hashed, never in metrics.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::cli;
use crate::commands::Failure;
use crate::exit::Exit;
use crate::state::{self, install_id};
use crate::{config, paths};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The request body.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// Always `lowkey.enroll.v1`.
    pub schema: &'a str,
    /// The install id (UUIDv4).
    pub install_id: &'a str,
    /// `sha256:<64 hex>` (see the module docs).
    pub machine_id: &'a str,
    /// `linux`, `darwin` or `windows`.
    pub os: &'a str,
    /// `amd64` or `arm64`.
    pub arch: &'a str,
    /// Always `telemetron-standalone`.
    pub source: &'a str,
    /// The crate version.
    pub telemetron_version: &'a str,
    /// The pack (the predecessor sent its mode).
    pub pack: &'a str,
    /// The tier.
    pub tier: &'a str,
}

/// The answer.
#[derive(Debug, Deserialize)]
struct Answer {
    token: String,
    install_id: String,
}

/// Go's names for this platform.
pub fn os_arch() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (os, arch)
}

/// The predecessor's machine id from a machine-id file's content and the
/// host name.
pub fn machine_id(raw_machine_id: &str, hostname: &str) -> String {
    let digest = Sha256::digest(format!("{}:{hostname}", raw_machine_id.trim()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Reads this machine's id and host name.
pub fn local_machine_id() -> anyhow::Result<String> {
    let raw = ["/etc/machine-id", "/var/lib/dbus/machine-id", "/var/db/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .context("no machine id found (/etc/machine-id); enrollment needs one")?;
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let n = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..n]).into_owned()
    } else {
        String::new()
    };
    Ok(machine_id(&raw, &host))
}

/// True for a well-formed enrollment token.
pub fn valid_token(t: &str) -> bool {
    t.strip_prefix("lpk_enroll_").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Enrolls and returns the token.
pub fn enroll(endpoint: &str, req: &Request, timeout: Duration) -> anyhow::Result<String> {
    let agent = ureq::AgentBuilder::new().timeout(timeout).redirects(0).build();
    let body = serde_json::to_vec(req)?;
    for attempt in 1..=2 {
        let sent = agent.post(endpoint).set("Content-Type", "application/json").send_bytes(&body);
        let retryable = match sent {
            Ok(resp) if resp.status() == 200 => return read_answer(resp, req.install_id, endpoint),
            Ok(resp) => bail!("{endpoint} answered HTTP {} to the enrollment", resp.status()),
            Err(ureq::Error::Status(409, _)) => bail!(
                "{endpoint}: this install id is already enrolled to a different machine (409); \
                 remove the install-id file in the state directory to enroll as a new install"
            ),
            Err(ureq::Error::Status(s, _)) if s >= 500 => format!("HTTP {s}"),
            Err(ureq::Error::Status(s, r)) => {
                let mut text = String::new();
                let _ = r.into_reader().take(512).read_to_string(&mut text);
                bail!("{endpoint} refused the enrollment: HTTP {s} {}", text.trim())
            }
            Err(ureq::Error::Transport(t)) => t.to_string(),
        };
        if attempt == 2 {
            bail!("{endpoint}: enrollment failed twice ({retryable}); try again later");
        }
        let jitter = crate::hash::SplitMix64(crate::time::now_unix_nano()).below(500);
        std::thread::sleep(Duration::from_millis(jitter));
    }
    unreachable!("the loop returns or bails")
}

/// Reads and checks a 200 answer (at most 4 KiB).
fn read_answer(resp: ureq::Response, install_id: &str, endpoint: &str) -> anyhow::Result<String> {
    let mut text = Vec::new();
    resp.into_reader().take(4097).read_to_end(&mut text)?;
    if text.len() > 4096 {
        bail!("{endpoint}: the enrollment answer is larger than 4 KiB");
    }
    let a: Answer = serde_json::from_slice(&text)
        .with_context(|| format!("{endpoint}: the enrollment answer is not the expected JSON"))?;
    if !valid_token(&a.token) {
        bail!("{endpoint}: the enrollment answer holds a malformed token");
    }
    if a.install_id != install_id {
        bail!("{endpoint}: the enrollment answer is for another install id; not trusted");
    }
    Ok(a.token)
}

/// Writes a token file: mode 0400, no trailing newline.
pub fn write_token(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    // Replace an older 0400 file: make it writable first.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    crate::state::write_atomic(path, token.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400))
        .with_context(|| format!("{}", path.display()))
}

/// Enrolls and stores the token; returns where it was written.
pub fn enroll_and_store(
    settings: &config::Settings,
    url: &str,
    pack: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::path::PathBuf, Failure> {
    let config = |error| Failure { exit: Exit::Config, error };
    let failed = |error| Failure { exit: Exit::ExportFailed, error };
    let url = url.trim();
    let plain = url.to_ascii_lowercase().starts_with("http://");
    if plain && !settings.insecure_endpoint && !config::is_loopback_url(url) {
        return Err(config(anyhow::anyhow!(
            "enroll endpoint `{url}` uses plain http to a non-loopback host; use https"
        )));
    }
    std::fs::create_dir_all(&settings.state_dir)
        .map_err(|e| Failure { exit: Exit::Local, error: e.into() })?;
    let dir = state::StateDir::new(&settings.state_dir);
    let (install_id, _) = install_id::load_or_create(&dir.install_id_path(), true)
        .map_err(|error| Failure { exit: Exit::Local, error })?;
    let machine_id = local_machine_id().map_err(config)?;
    let (os, arch) = os_arch();
    let tier = settings.declared.iter().find(|(k, _)| k == "tier").map_or("external", |(_, v)| v);
    let req = Request {
        schema: "lowkey.enroll.v1",
        install_id: &install_id,
        machine_id: &machine_id,
        os,
        arch,
        source: "telemetron-standalone",
        telemetron_version: env!("CARGO_PKG_VERSION"),
        pack,
        tier,
    };
    let token = enroll(url, &req, settings.timeout).map_err(failed)?;
    let path = token_path(settings, env);
    write_token(&path, &token).map_err(|error| Failure { exit: Exit::Local, error })?;
    Ok(path)
}

/// Where the token file is (configured, else beside the config file).
pub fn token_path(
    settings: &config::Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::path::PathBuf {
    match &settings.token_file {
        Some(p) => p.clone(),
        None => {
            let cfg = settings
                .config_path
                .clone()
                .unwrap_or_else(|| paths::Defaults::for_user(&settings.home, env).config_file);
            cfg.parent().map(|d| d.join("token")).unwrap_or_else(|| "token".into())
        }
    }
}

/// Runs `telemetron enroll`.
pub fn enroll_command(
    args: &cli::EnrollArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, Failure> {
    let settings = config::Settings::resolve(&args.common, env)
        .map_err(|error| Failure { exit: Exit::Config, error })?;
    let path = enroll_and_store(&settings, &args.enroll_endpoint, &args.pack, env)?;
    eprintln!("telemetron: enrolled; token written to {} (mode 0400)", path.display());
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_id_vectors_match_the_predecessor() {
        // Frozen vectors of the Go implementation's algorithm.
        let id = machine_id("abc123\n", "foo");
        let want = format!(
            "sha256:{}",
            Sha256::digest(b"abc123:foo").iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        assert_eq!(id, want);
        assert!(id.starts_with("sha256:250d65d1"), "{id}");
        assert!(
            machine_id("", "bar").ends_with("3056")
                && machine_id("", "bar").starts_with("sha256:35097")
        );
        assert_eq!(
            machine_id("abc123", "föö"),
            "sha256:ffea51f860cb742657350e3c18d105443953c8833ae002b182891b6e2d428001"
        );
    }

    #[test]
    fn tokens() {
        assert!(valid_token(&format!("lpk_enroll_{}", "a1".repeat(32))));
        assert!(!valid_token(&format!("lpk_enroll_{}", "A1".repeat(32))));
        assert!(!valid_token("lpk_enroll_abc"));
        assert!(!valid_token(&format!("lpk_other_{}", "a".repeat(64))));
    }

    #[test]
    fn the_token_file_is_0400_without_a_newline() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("token");
        write_token(&p, "lpk_enroll_x").unwrap();
        write_token(&p, "lpk_enroll_y").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"lpk_enroll_y");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o400);
    }
}
