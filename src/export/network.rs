//! How the request reaches the collector on a company network: the proxy
//! (the configured one, else the usual environment variables, unless
//! `NO_PROXY` exempts the endpoint) and the TLS trust (the compiled-in
//! public roots, the system's trust store, a private CA file, a client
//! certificate for mutual TLS).
//!
//! A run sends to one endpoint, so the proxy is chosen once per run (ureq 2
//! reads the proxy variables but not `NO_PROXY`; see the README's
//! dependency notes).

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{anyhow, Context};

/// The proxy a request to `endpoint` goes through: `configured` (`proxy:`,
/// `--proxy`, `TELEMETRON_PROXY`; `none` for no proxy at all) wins,
/// else the environment: `HTTPS_PROXY` for an https endpoint,
/// `HTTP_PROXY` for http, `ALL_PROXY` for both (each in lower case first,
/// then upper), unless `NO_PROXY` (or `no_proxy`) names the endpoint's
/// host.
pub fn proxy_for(
    endpoint: &str,
    configured: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if let Some(p) = configured.map(str::trim).filter(|p| !p.is_empty()) {
        return (!p.eq_ignore_ascii_case("none")).then(|| p.to_string());
    }
    let var = |name: &str| {
        env(&name.to_ascii_lowercase())
            .or_else(|| env(name))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (scheme, host, port) = split_url(endpoint)?;
    let proxy = match scheme.as_str() {
        "https" => var("HTTPS_PROXY"),
        _ => var("HTTP_PROXY"),
    }
    .or_else(|| var("ALL_PROXY"))?;
    match var("NO_PROXY") {
        Some(list) if no_proxy_matches(&list, &host, port) => None,
        _ => Some(proxy),
    }
}

/// The scheme, host (lower case, IPv6 without brackets) and port of a URL
/// (the scheme's default when it has none, or one that is not a number).
pub fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(default)),
            None => (authority.to_string(), default),
        }
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// True when a `NO_PROXY` list exempts `host:port`. Entries are comma (or
/// space) separated: `*` (everything), a host name that matches itself and
/// its subdomains (`example.com`, `.example.com`), an IP address, a CIDR
/// block (`10.0.0.0/8`, `fd00::/8`), any of them with `:port` to exempt
/// only that port.
pub fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' ']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        // `[v6]:port`, `host:port` (but not a bare IPv6 address).
        let (name, entry_port) = if let Some(v6) = entry.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, rest)) => {
                    (h.to_string(), rest.strip_prefix(':').and_then(|p| p.parse().ok()))
                }
                None => return false,
            }
        } else if entry.matches(':').count() == 1 {
            let (h, p) = entry.split_once(':').expect("one colon");
            match p.parse::<u16>() {
                Ok(p) => (h.to_string(), Some(p)),
                Err(_) => return false,
            }
        } else {
            (entry.clone(), None)
        };
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        if let Some((net, bits)) = name.split_once('/') {
            return match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                _ => false,
            };
        }
        if let (Some(ip), Ok(e)) = (ip, name.parse::<IpAddr>()) {
            return ip == e;
        }
        let name = name.trim_start_matches('.').trim_start_matches("*.").trim_end_matches('.');
        !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
    })
}

/// True when `ip` is in `net/bits`.
fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The `Proxy-Authorization` value for a plain-http request sent through
/// `proxy` with credentials (ureq 2 sends them only on CONNECT, for https;
/// a plain-http request carries them itself, and only then: inside a
/// CONNECT tunnel they would reach the collector).
pub fn proxy_authorization(proxy: &str, endpoint: &str) -> Option<String> {
    use base64::Engine;
    if !endpoint.to_ascii_lowercase().starts_with("http://") {
        return None;
    }
    let rest = proxy.split_once("://").map_or(proxy, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (creds, _) = authority.rsplit_once('@')?;
    let decoded = percent_decode(creds);
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded)))
}

/// `%XX` escapes decoded (a URL's userinfo, the `OTEL_*` variables'
/// values).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A proxy URL for people: its credentials replaced by `***`.
pub fn redacted(proxy: &str) -> String {
    match proxy.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => proxy.to_string(),
            }
        }
        None => match proxy.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => proxy.to_string(),
        },
    }
}

/// Where the TLS trust comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// A PEM file of CA certificates to trust besides the public and
    /// system roots (`ca_file:`, `OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub ca_file: Option<std::path::PathBuf>,
    /// A PEM client certificate chain for mutual TLS (`client_cert:`).
    pub client_cert: Option<std::path::PathBuf>,
    /// Its PEM private key (`client_key:`).
    pub client_key: Option<std::path::PathBuf>,
}

/// The TLS configuration: the compiled-in public roots (webpki-roots), the
/// system's trust store (rustls-native-certs; a store that cannot be read
/// is reported in `warnings`, the others still apply), the CA file, and
/// the client certificate when given. Verification is never turned off.
pub fn tls_config(
    files: &TlsFiles,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        warnings.push(format!("the system's trust store: {e}"));
    }
    let (_, _) = roots.add_parsable_certificates(native.certs);
    if let Some(ca) = &files.ca_file {
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_file_iter(ca).and_then(|it| it.collect::<Result<_, _>>()).map_err(
                |e| anyhow!("ca_file {}: {e}; give a PEM file of CA certificates", ca.display()),
            )?;
        if certs.is_empty() {
            anyhow::bail!("ca_file {}: no PEM certificate in it", ca.display());
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                anyhow!("ca_file {}: a certificate is not usable: {e}", ca.display())
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    let config = match (&files.client_cert, &files.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    anyhow!("client_cert {}: {e}; give a PEM certificate", cert.display())
                })?;
            if chain.is_empty() {
                anyhow::bail!("client_cert {}: no PEM certificate in it", cert.display());
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                anyhow!("client_key {}: {e}; give the certificate's PEM private key", key.display())
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                anyhow!("client_cert {} and its key do not go together: {e}", cert.display())
            })?
        }
        (Some(_), None) | (None, Some(_)) => anyhow::bail!(
            "mutual TLS needs both client_cert and client_key (or \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY)"
        ),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_environment_names_the_proxy_by_scheme() {
        let e = env(&[("HTTPS_PROXY", "http://p:3128"), ("http_proxy", "http://q:8080")]);
        assert_eq!(proxy_for("https://c/v1/metrics", None, &e).as_deref(), Some("http://p:3128"));
        assert_eq!(proxy_for("http://c/v1/metrics", None, &e).as_deref(), Some("http://q:8080"));
        let all = env(&[("ALL_PROXY", "http://a:1")]);
        assert_eq!(proxy_for("https://c/v1/metrics", None, &all).as_deref(), Some("http://a:1"));
        assert_eq!(proxy_for("https://c/v1/metrics", None, &env(&[])), None);
        // The configured proxy wins; `none` turns the environment's off.
        assert_eq!(
            proxy_for("https://c/x", Some("http://cfg:1"), &e).as_deref(),
            Some("http://cfg:1")
        );
        assert_eq!(proxy_for("https://c/x", Some("none"), &e), None);
    }

    #[test]
    fn no_proxy_forms() {
        let m = |list, host, port| no_proxy_matches(list, host, port);
        assert!(m("*", "anything", 1));
        assert!(m("example.com", "example.com", 443));
        assert!(m("example.com", "otel.example.com", 443));
        assert!(m(".example.com", "otel.example.com", 443));
        assert!(m("*.example.com", "otel.example.com", 443));
        assert!(!m("example.com", "notexample.com", 443));
        assert!(m("a.test, otel.internal:4318", "otel.internal", 4318));
        assert!(!m("otel.internal:4318", "otel.internal", 443));
        assert!(m("10.0.0.0/8", "10.1.2.3", 443));
        assert!(!m("10.0.0.0/8", "11.1.2.3", 443));
        assert!(m("192.168.1.7", "192.168.1.7", 80));
        assert!(m("fd00::/8", "fd12::1", 443));
        assert!(m("[::1]:4318", "::1", 4318));
        assert!(m("::1", "::1", 4318));
        assert!(!m("", "x", 1));
        let e = env(&[("HTTPS_PROXY", "http://p:3128"), ("NO_PROXY", "localhost,127.0.0.0/8")]);
        assert_eq!(proxy_for("https://127.0.0.1:4318/v1/metrics", None, &e), None);
        assert!(proxy_for("https://otel.example/v1/metrics", None, &e).is_some());
    }

    #[test]
    fn urls_split_and_credentials_are_hidden() {
        assert_eq!(
            split_url("https://u:p@[::1]:4318/v1"),
            Some(("https".into(), "::1".into(), 4318))
        );
        assert_eq!(
            split_url("http://Otel.Example/v1"),
            Some(("http".into(), "otel.example".into(), 80))
        );
        assert_eq!(redacted("http://bob:CANARY-pw@proxy:3128"), "http://***@proxy:3128");
        assert_eq!(redacted("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redacted("bob:CANARY-pw@proxy:3128"), "***@proxy:3128");
        let p = "http://bob:CANARY%2Dpw@proxy:3128";
        assert_eq!(
            proxy_authorization(p, "http://c/v1/metrics").as_deref(),
            Some("Basic Ym9iOkNBTkFSWS1wdw==")
        );
        assert_eq!(proxy_authorization(p, "https://c/v1/metrics"), None, "never into a tunnel");
        assert_eq!(proxy_authorization("http://proxy:3128", "http://c/v1/metrics"), None);
    }

    #[test]
    fn tls_needs_both_halves_of_a_client_identity_and_a_real_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Vec::new();
        assert!(tls_config(&TlsFiles::default(), &mut w).is_ok());
        let half = TlsFiles { client_cert: Some(dir.path().join("c.pem")), ..TlsFiles::default() };
        assert!(tls_config(&half, &mut w).unwrap_err().to_string().contains("client_key"));
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not pem").unwrap();
        let e = tls_config(&TlsFiles { ca_file: Some(bad), ..TlsFiles::default() }, &mut w)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ca.pem"), "{e}");
    }
}
