//! Test harness: an isolated environment for running the real binary, and
//! a loopback OTLP/HTTP receiver that decodes what it is sent.
//!
//! `TestEnv` gives every test its own temporary `HOME` (and XDG dirs under
//! it) and runs `telemetron` with a scrubbed environment, so no setting of
//! the machine or the developer leaks in. `Receiver` listens on
//! `127.0.0.1:0`, records every request (headers and body) *before*
//! answering, and answers from a script: a status with headers and body,
//! a hang, or a dropped connection.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;
use telemetron::export::proto::ExportMetricsServiceRequest;

/// The canary marker every fixture carries in its content, ids and paths.
pub const CANARY: &str = "CANARY";

/// An isolated home and a way to run the binary in it.
pub struct TestEnv {
    /// The temporary home directory.
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// An empty home with an empty config file.
    ///
    /// Tests may run as root (CI does), where the default config and state
    /// live in /etc and /var/lib; every run is therefore pointed at a config
    /// file and state directory inside the temporary home through
    /// `TELEMETRON_CONFIG` and `TELEMETRON_STATE_DIR`. The defaults
    /// themselves are covered by unit tests in `paths.rs`.
    pub fn new() -> TestEnv {
        let env = TestEnv { dir: tempfile::tempdir().expect("temp dir") };
        env.write_config("");
        env
    }

    /// A home holding a copy of `fixtures/demo-home`.
    pub fn with_demo_home() -> TestEnv {
        let env = TestEnv::new();
        copy_tree(&fixtures().join("demo-home"), env.home());
        env
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The default state directory for this home.
    pub fn state_dir(&self) -> PathBuf {
        self.home().join(".local/state/telemetron")
    }

    /// A command running the binary with a scrubbed environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.program(env!("CARGO_BIN_EXE_telemetron"), args)
    }

    /// A command running `program` with the same scrubbed environment
    /// (for wrappers such as `setpriv`).
    pub fn program(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("XDG_STATE_HOME", self.home().join(".local/state"))
            .env("TELEMETRON_CONFIG", self.config_path())
            .env("TELEMETRON_STATE_DIR", self.state_dir())
            .current_dir(self.home())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `telemetron scan` with extra arguments and returns its output.
    pub fn scan(&self, args: &[&str]) -> Run {
        self.scan_env(args, &[])
    }

    /// Runs `telemetron scan` with extra arguments and environment.
    pub fn scan_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec!["scan"];
        all.extend_from_slice(args);
        let mut c = self.cmd(&all);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().expect("run telemetron"), &all)
    }

    /// Starts `telemetron scan` in the background.
    pub fn spawn_scan(&self, args: &[&str]) -> Child {
        let mut all = vec!["scan"];
        all.extend_from_slice(args);
        self.cmd(&all).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")
    }

    /// Appends bytes to a file under the home.
    pub fn append(&self, rel: &str, bytes: &str) {
        let p = self.home().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
        f.write_all(bytes.as_bytes()).unwrap();
    }

    /// The config file every run reads.
    pub fn config_path(&self) -> PathBuf {
        self.home().join(".config/telemetron/config.yaml")
    }

    /// Writes the config file and returns its path.
    pub fn write_config(&self, yaml: &str) -> PathBuf {
        let p = self.config_path();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, yaml).unwrap();
        p
    }

    /// The contents of a file in the state directory, if present.
    pub fn state_file(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.state_dir().join(name)).ok()
    }
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Every file below `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// A finished run, with everything needed to explain a failure.
pub struct Run {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The arguments, for messages.
    pub args: String,
}

impl Run {
    /// Wraps a process output.
    pub fn from(o: Output, args: &[&str]) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            args: args.join(" "),
        }
    }

    /// Asserts the exit code, printing the whole run otherwise.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "`telemetron {}` exited {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }
}

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A status line, extra headers and a body.
    Status(u16, Vec<(String, String)>, Vec<u8>),
    /// Read the request, then say nothing for this long and close.
    Hang(Duration),
    /// Read the request, then close without answering.
    Drop,
}

impl Reply {
    /// A plain status with an empty body.
    pub fn status(code: u16) -> Reply {
        Reply::Status(code, Vec::new(), Vec::new())
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request's path (`/v1/metrics`).
    pub path: String,
    /// Header names (lower-cased) and values.
    pub headers: Vec<(String, String)>,
    /// The body as sent (maybe compressed).
    pub raw: Vec<u8>,
    /// The body after `Content-Encoding` was undone.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Decodes the body as an `ExportMetricsServiceRequest`, by its
    /// content type.
    pub fn decode(&self) -> ExportMetricsServiceRequest {
        match self.header("content-type") {
            Some("application/x-protobuf") => {
                ExportMetricsServiceRequest::decode(&self.body[..]).expect("protobuf body")
            }
            Some("application/json") => serde_json::from_slice(&self.body).expect("json body"),
            other => panic!("unexpected content type {other:?}"),
        }
    }
}

/// A loopback OTLP/HTTP receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/v1/metrics`.
    pub url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Receiver {
    /// Starts a receiver that answers 200 unless scripted otherwise.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            url: format!("http://127.0.0.1:{port}/v1/metrics"),
            requests: Arc::default(),
            script: Arc::default(),
            stop: Arc::default(),
            port,
        };
        let (requests, script, stop) = (r.requests.clone(), r.script.clone(), r.stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (requests, script) = (requests.clone(), script.clone());
                thread::spawn(move || serve(conn, &requests, &script));
            }
        });
        r
    }

    /// Queues replies for the next requests (then 200s again).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after 20 s).
    pub fn wait_for(&self, n: usize) {
        let t = Instant::now();
        while self.requests.lock().unwrap().len() < n {
            assert!(t.elapsed() < Duration::from_secs(20), "receiver never got {n} request(s)");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves the requests of one connection.
fn serve(conn: TcpStream, requests: &Mutex<Vec<Received>>, script: &Mutex<VecDeque<Reply>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut headers = Vec::new();
        let mut line = String::new();
        // Request line.
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut raw = vec![0u8; len];
        if reader.read_exact(&mut raw).is_err() {
            return;
        }
        let gz = headers.iter().any(|(k, v)| k == "content-encoding" && v == "gzip");
        let body = if gz {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip body");
            out
        } else {
            raw.clone()
        };
        requests.lock().unwrap().push(Received { path, headers, raw, body });
        let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::status(200));
        match reply {
            Reply::Status(code, extra, body) => {
                let mut head = format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&body)).is_err() {
                    return;
                }
            }
            Reply::Hang(d) => {
                thread::sleep(d);
                return;
            }
            Reply::Drop => return,
        }
    }
}

/// Flattens a request into `name{k=v,...} → value`, summing points of the
/// same series (attributes in the order sent). Costs are left out (see
/// [`flatten_with_cost`]): what is counted does not depend on prices.
pub fn flatten(req: &ExportMetricsServiceRequest) -> BTreeMap<String, i64> {
    let mut out = flatten_with_cost(req);
    out.retain(|k, _| !k.starts_with("pack.cost.usage{"));
    out
}

/// [`flatten`] with `pack.cost.usage`, in pico-dollars.
pub fn flatten_with_cost(req: &ExportMetricsServiceRequest) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let cost = m.name == "pack.cost.usage";
                for p in &m.sum.as_ref().expect("sum").data_points {
                    let attrs: Vec<String> = p
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={}", kv.key, kv.as_str().unwrap_or("?")))
                        .collect();
                    let key = format!("{}{{{}}}", m.name, attrs.join(","));
                    let v = if cost {
                        assert!(p.as_int.is_none(), "a cost is a double");
                        (p.as_double.expect("asDouble") * 1e12).round() as i64
                    } else {
                        p.as_int.expect("asInt")
                    };
                    *out.entry(key).or_insert(0) += v;
                }
            }
        }
    }
    out
}

/// Sums several requests' flattened counts.
pub fn total(reqs: &[Received]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for r in reqs {
        for (k, v) in flatten(&r.decode()) {
            *out.entry(k).or_insert(0) += v;
        }
    }
    out
}

/// Parses a table of `name{attrs} value` lines (`#` starts a comment line).
pub fn table(text: &str) -> BTreeMap<String, i64> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("key value");
            (k.to_string(), v.parse().expect("number"))
        })
        .collect()
}

/// Drops the heartbeat series from a flattened map.
pub fn without_heartbeat(mut m: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    m.remove("pack.emitter.heartbeat{pack=telemetron}");
    m
}

/// A loopback HTTP server that answers `GET /<name>` with the file of that
/// name in a directory (404 otherwise): a release download site.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl FileServer {
    /// Serves `dir` until the test ends.
    pub fn start(dir: PathBuf) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let dir = dir.clone();
                thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let name =
                        first.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/');
                    let mut conn = conn;
                    match std::fs::read(dir.join(name)) {
                        Ok(body) if !name.is_empty() && !name.contains("..") => {
                            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                            let _ =
                                conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&body));
                        }
                        _ => {
                            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        }
                    }
                });
            }
        });
        FileServer { url }
    }
}

/// Runs a scan against `rx`, asserting that no canary reaches the log.
pub fn scan_without_canary(env: &TestEnv, rx: &Receiver) -> Run {
    let run = env.scan(&["--endpoint", rx.url.as_str()]);
    assert!(!run.stderr.contains(CANARY), "a canary in the log: {}", run.stderr);
    run
}

/// Everything `rx` received so far, counted series only (no
/// `pack.emitter.*`: a copy recognised by its content is not read, and rows
/// replaying counted records are read), asserting no canary in a payload.
pub fn delivered_counts(rx: &Receiver) -> BTreeMap<String, i64> {
    let reqs = rx.requests();
    for r in &reqs {
        assert!(!format!("{:?}", r.decode()).contains(CANARY), "a canary in a payload");
    }
    counted(total(&reqs))
}

/// The counted series of a total (without `pack.emitter.*`, without zeros).
pub fn counted(m: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    m.into_iter().filter(|(k, v)| !k.starts_with("pack.emitter.") && *v != 0).collect()
}
