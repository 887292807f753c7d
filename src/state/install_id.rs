//! The install id: a random UUIDv4 created once in the state directory and
//! sent as `service.instance.id`. It is not derived from anything about
//! the machine or the user, and is never regenerated while the file exists.

use std::io::Read;
use std::path::Path;

use crate::state::write_atomic;

/// Reads the install id, creating it when `create` is set. Returns the id
/// and whether it was stored (false for a dry run that had no id yet).
pub fn load_or_create(path: &Path, create: bool) -> anyhow::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(s) if is_uuid_v4(s.trim()) => return Ok((s.trim().to_string(), true)),
        Ok(_) if !create => return Ok((new_uuid_v4()?, false)),
        Ok(_) => eprintln!(
            "telemetron: warning: {} does not hold a UUIDv4; writing a new install id",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Ok((new_uuid_v4()?, false));
            }
        }
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
    let id = new_uuid_v4()?;
    write_atomic(path, id.as_bytes())?;
    Ok((id, true))
}

/// A random UUIDv4 from the operating system's CSPRNG.
pub fn new_uuid_v4() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| anyhow::anyhow!("/dev/urandom: {e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// True for a lower-case UUIDv4.
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_v4_and_differ() {
        let a = new_uuid_v4().unwrap();
        let b = new_uuid_v4().unwrap();
        assert!(is_uuid_v4(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn created_once_then_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("install-id");
        let (a, stored) = load_or_create(&p, true).unwrap();
        assert!(stored);
        let (b, _) = load_or_create(&p, true).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_dry_run_does_not_create_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("install-id");
        let (_, stored) = load_or_create(&p, false).unwrap();
        assert!(!stored);
        assert!(!p.exists());
    }

    #[test]
    fn rejects_non_v4() {
        assert!(!is_uuid_v4("7f1c2d3e-4b5a-1c6d-8e9f-0a1b2c3d4e5f"));
        assert!(!is_uuid_v4("hostname"));
    }
}
