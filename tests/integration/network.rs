//! Company networks through the real binary: a forward proxy on loopback
//! (CONNECT and plain) that is the only way to a host name that does not
//! resolve, `NO_PROXY`, a TLS collector whose certificate comes from a CA
//! made here, and one that requires a client certificate. A canary in the
//! proxy password never appears in any output or `status`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::util::{Receiver, TestEnv};

/// The host name only the proxy can reach (`.invalid` never resolves).
const HIDDEN: &str = "collector.invalid";

/// What a proxy saw: each request line and its `Proxy-Authorization`.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forward proxy: CONNECT tunnels and absolute-form requests, to
/// [`HIDDEN`] (mapped to loopback) or loopback itself. It records the
/// request lines and `Proxy-Authorization` headers it saw.
struct Proxy {
    port: u16,
    seen: Seen,
}

impl Proxy {
    fn start() -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || proxy_one(conn, &s));
            }
        });
        Proxy { port, seen }
    }

    fn url(&self, creds: &str) -> String {
        format!("http://{creds}127.0.0.1:{}", self.port)
    }
}

fn proxy_one(conn: TcpStream, seen: &Mutex<Vec<(String, Option<String>)>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 {
            return;
        }
        if l.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("proxy-authorization") {
                auth = Some(v.trim().to_string());
                continue;
            }
        }
        head.push(l);
    }
    seen.lock().unwrap().push((first.trim_end().to_string(), auth));
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let hostport = if method == "CONNECT" {
        target.to_string()
    } else {
        target.trim_start_matches("http://").split('/').next().unwrap_or("").to_string()
    };
    let upstream_addr = hostport.replace(HIDDEN, "127.0.0.1");
    let Ok(mut upstream) = TcpStream::connect(&upstream_addr) else {
        let _ = (&conn).write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let mut client = conn;
    if method == "CONNECT" {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
    } else {
        // Origin form upstream.
        let path = target.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or("/".into());
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        for h in head {
            req.push_str(&h);
        }
        req.push_str("\r\n");
        upstream.write_all(req.as_bytes()).unwrap();
    }
    // What the reader buffered already belongs upstream.
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered).unwrap();
    let mut up2 = upstream.try_clone().unwrap();
    let mut cl2 = client.try_clone().unwrap();
    let t = thread::spawn(move || {
        let _ = std::io::copy(&mut up2, &mut cl2);
        let _ = cl2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

/// A CA made for the test, a server certificate for `localhost`,
/// `127.0.0.1` and [`HIDDEN`], and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    server: (Vec<CertificateDer<'static>>, Vec<u8>),
    ca_der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), HIDDEN.into()])
                .unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let ckey = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["telemetron-client".into()])
            .unwrap()
            .signed_by(&ckey, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
        std::fs::write(dir.path().join("client.key"), ckey.serialize_pem()).unwrap();
        Pki {
            server: (vec![cert.der().clone()], key.serialize_der()),
            ca_der: ca.der().clone(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A TLS collector on loopback answering 200 to every POST; with
/// `client_ca`, it requires a client certificate from that CA.
fn tls_collector(pki: &Pki, require_client: bool) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let v =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(v)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.1.clone()));
    let config = Arc::new(builder.with_single_cert(pki.server.0.clone(), key).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let (config, c) = (config.clone(), c.clone());
            thread::spawn(move || {
                let tls = rustls::ServerConnection::new(config).unwrap();
                let mut s = rustls::StreamOwned::new(tls, conn);
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                    if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_host_only_the_proxy_reaches_and_no_proxy() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let proxy = Proxy::start();
    let port = rx.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    let hidden = format!("http://{HIDDEN}:{port}/v1/metrics");
    let proxy_url = proxy.url("bob:CANARY-pw@");
    // Through the proxy, with its credentials.
    let run = env.scan_env(
        &["--endpoint", &hidden, "--insecure-endpoint"],
        &[("http_proxy", proxy_url.as_str())],
    );
    run.expect_code(0);
    assert_eq!(rx.requests().len(), 1);
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(seen[0].0.starts_with(&format!("POST http://{HIDDEN}:{port}/v1/metrics")), "{seen:?}");
    // base64("bob:CANARY-pw")
    let auth = seen[0].1.clone().unwrap_or_default();
    assert!(auth.eq_ignore_ascii_case("basic Ym9iOkNBTkFSWS1wdw=="), "{auth}");
    assert!(!run.stderr.contains("CANARY-pw"), "{}", run.stderr);
    // `status` names the proxy, never its password.
    let out = env
        .cmd(&["status", "--endpoint", &hidden, "--insecure-endpoint"])
        .env("http_proxy", &proxy_url)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("proxy:         http://***@127.0.0.1:{}", proxy.port)),
        "{text}"
    );
    assert!(!text.contains("CANARY-pw"), "{text}");
    // NO_PROXY names the host: the request goes direct, and the name does
    // not resolve.
    let run = env.scan_env(
        &["--endpoint", &hidden, "--insecure-endpoint", "--retry-max-time", "1s"],
        &[("HTTP_PROXY", proxy_url.as_str()), ("NO_PROXY", "localhost,.invalid")],
    );
    run.expect_code(3);
    assert!(!run.stderr.contains("CANARY-pw"), "{}", run.stderr);
    assert_eq!(proxy.seen.lock().unwrap().len(), 1);
    // A loopback collector exempted by a CIDR block skips a dead proxy.
    let run = env.scan_env(
        &["--endpoint", &rx.url],
        &[("HTTP_PROXY", "http://127.0.0.1:9"), ("no_proxy", "10.0.0.0/8, 127.0.0.0/8")],
    );
    run.expect_code(0);
    // `proxy: none` turns the environment's proxy off.
    env.write_config("proxy: none\n");
    env.scan_env(&["--endpoint", &rx.url], &[("HTTP_PROXY", "http://127.0.0.1:9")]).expect_code(0);
}

#[test]
fn a_private_ca_and_https_through_connect() {
    let env = TestEnv::with_demo_home();
    let pki = Pki::new();
    let (port, count) = tls_collector(&pki, false);
    let url = format!("https://localhost:{port}/v1/metrics");
    // Not trusted: a clear failure, nothing committed, no downgrade.
    let run = env.scan(&["--endpoint", &url, "--retry-max-time", "1s"]);
    run.expect_code(3);
    assert!(run.stderr.contains("ca_file"), "{}", run.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 0);
    // The CA from the OpenTelemetry variable.
    let ca = pki.path("ca.pem");
    env.scan_env(&["--endpoint", &url], &[("OTEL_EXPORTER_OTLP_CERTIFICATE", path_str(&ca))])
        .expect_code(0);
    // The batch the failed run kept, then this run's: both delivered.
    assert!(count.load(Ordering::SeqCst) >= 1);
    // Through a CONNECT proxy to a name only it can reach.
    let proxy = Proxy::start();
    let before = count.load(Ordering::SeqCst);
    let hidden = format!("https://{HIDDEN}:{port}/v1/metrics");
    env.scan_env(
        &["--endpoint", &hidden, "--ca-file", path_str(&ca)],
        &[("HTTPS_PROXY", proxy.url("amy:CANARY-pw2@").as_str())],
    )
    .expect_code(0);
    assert_eq!(count.load(Ordering::SeqCst), before + 1);
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, format!("CONNECT {HIDDEN}:{port} HTTP/1.1"));
    // The credentials go to the proxy on CONNECT (base64 of amy:CANARY-pw2).
    let auth = seen[0].1.clone().unwrap_or_default();
    assert!(auth.eq_ignore_ascii_case("basic YW15OkNBTkFSWS1wdzI="), "{auth}");
}

#[test]
fn mutual_tls() {
    let env = TestEnv::with_demo_home();
    let pki = Pki::new();
    let (port, count) = tls_collector(&pki, true);
    let url = format!("https://127.0.0.1:{port}/v1/metrics");
    let ca = pki.path("ca.pem");
    let run = env.scan(&["--endpoint", &url, "--ca-file", path_str(&ca), "--retry-max-time", "1s"]);
    run.expect_code(3);
    assert!(run.stderr.contains("client_cert"), "{}", run.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    env.write_config(&format!("ca_file: {}\n", path_str(&ca)));
    env.scan_env(
        &["--endpoint", &url],
        &[
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path_str(&cert)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path_str(&key)),
        ],
    )
    .expect_code(0);
    assert!(count.load(Ordering::SeqCst) >= 1);
    // Half an identity is a configuration error.
    let run = env.scan(&["--endpoint", &url, "--client-cert", path_str(&cert)]);
    run.expect_code(2);
    assert!(run.stderr.contains("client_key"), "{}", run.stderr);
}
