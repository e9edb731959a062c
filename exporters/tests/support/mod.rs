//! Starting real peers on loopback for the integration tests, and talking to
//! them over plain HTTP.
//!
//! `scripts/peers.sh` installs the peers and exports the paths of their
//! binaries. A test that needs a peer whose variable is unset fails when `CI`
//! is set and is skipped, with a message, otherwise.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a peer may take to come up or to show what it received.
pub const PEER_DEADLINE: Duration = Duration::from_secs(60);

/// The path in the environment variable `var`, or `None` (skip) outside CI.
///
/// # Panics
///
/// When `CI` is set and the variable is missing or names no file.
pub fn peer_bin(var: &str) -> Option<PathBuf> {
    peer_path(var, "file", Path::is_file)
}

/// The folder in the environment variable `var`, or `None` (skip) outside CI.
///
/// # Panics
///
/// When `CI` is set and the variable is missing or names no folder.
pub fn peer_dir(var: &str) -> Option<PathBuf> {
    peer_path(var, "folder", Path::is_dir)
}

fn peer_path(var: &str, kind: &str, exists: fn(&Path) -> bool) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from);
    match path {
        Some(path) if exists(&path) => Some(path),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{var} is not set or names no {kind}; scripts/peers.sh installs the peer and sets it"
        ),
        _ => {
            eprintln!("skipped: {var} is not set; run `source scripts/peers.sh` first");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1 for a peer to listen on.
///
/// Ports come from below the kernel's ephemeral range, so the client sockets
/// of this and other processes cannot take them between this check and the
/// peer's own bind, and never twice in one process, so tests running side by
/// side cannot be handed the same port.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let (low, high) = listen_port_range();
    let span = usize::from(high - low);
    // Processes start at different points of the range.
    let offset = std::process::id() as usize * 97;
    for _ in 0..span {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + ((offset + step) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Ports below the ephemeral range, `[low, high)`.
fn listen_port_range() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_start > 12000 {
        (10000, ephemeral_start)
    } else {
        (ephemeral_start.saturating_add(30000).max(40000), 65000)
    }
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "autotel-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A peer process, killed when dropped. Its output goes to files in its
/// directory, shown when a wait for it fails.
pub struct Peer {
    name: String,
    child: Child,
    dir: PathBuf,
}

impl Peer {
    /// Starts `bin` with `args` in a fresh directory.
    pub fn start(name: &str, bin: &Path, args: &[String]) -> Self {
        let dir = temp_dir(name);
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("log file");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Self {
            name: name.to_owned(),
            child,
            dir,
        }
    }

    /// The peer's own directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the peer printed so far.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        let tail = |s: String| {
            let start = s.len().saturating_sub(4000);
            let start = (start..s.len())
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(s.len());
            s[start..].to_owned()
        };
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            tail(read("stdout.log")),
            self.name,
            tail(read("stderr.log"))
        )
    }

    /// Polls `check` until it returns `Some`, failing with the peer's logs
    /// after [`PEER_DEADLINE`].
    pub fn wait_for<T>(&mut self, what: &str, check: impl FnMut() -> Option<T>) -> T {
        self.try_wait_for(what, check)
            .unwrap_or_else(|failure| panic!("{failure}"))
    }

    /// Polls `check` until it returns `Some`; `Err` with the peer's logs when
    /// the peer exits or [`PEER_DEADLINE`] passes.
    pub fn try_wait_for<T>(
        &mut self,
        what: &str,
        mut check: impl FnMut() -> Option<T>,
    ) -> Result<T, String> {
        let start = Instant::now();
        loop {
            if let Some(value) = check() {
                return Ok(value);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status} while waiting for {what}\n{}",
                    self.name,
                    self.logs()
                ));
            }
            if start.elapsed() >= PEER_DEADLINE {
                return Err(format!("gave up waiting for {what}\n{}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Starts a peer with `start`, which picks fresh ports and returns them
/// beside the peer, until `ready` succeeds; again when another process took
/// one of the ports first.
///
/// # Panics
///
/// When the peer fails for another reason, or three times in a row.
fn start_listening<A>(
    mut start: impl FnMut() -> (Peer, A),
    mut ready: impl FnMut(&mut Peer, &A) -> Result<(), String>,
) -> (Peer, A) {
    let mut failure = String::new();
    for _ in 0..3 {
        let (mut peer, ports) = start();
        match ready(&mut peer, &ports) {
            Ok(()) => return (peer, ports),
            Err(text) if text.contains("already in use") => failure = text,
            Err(text) => panic!("{text}"),
        }
    }
    panic!("a port was taken three times in a row\n{failure}")
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP answer: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET http://{address}{path}` over HTTP/1.1 with `Connection: close`.
pub fn http_get(address: SocketAddr, path: &str) -> std::io::Result<Response> {
    http_get_with(address, path, "")
}

/// [`http_get`] with more header lines, each ending in `\r\n`.
pub fn http_get_with(address: SocketAddr, path: &str, headers: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: */*\r\n{headers}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of HTTP head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head}")))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        let stop = (start + size).min(data.len());
        out.extend_from_slice(&data[start..stop]);
        data = &data[(stop + 2).min(data.len())..];
    }
    out
}

/// `GET` that parses a JSON body; `None` on any failure.
pub fn get_json(address: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let response = http_get(address, path).ok()?;
    if response.status != 200 {
        return None;
    }
    serde_json::from_str(&response.body).ok()
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The loopback address with `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A Prometheus server scraping `target` every second.
pub struct PrometheusPeer {
    pub peer: Peer,
    pub address: SocketAddr,
}

impl PrometheusPeer {
    /// Starts the server from `AUTOTEL_PROMETHEUS_BIN` and waits until its
    /// first scrape of `target` succeeded; `None` when skipped.
    pub fn start(target: SocketAddr) -> Option<Self> {
        Self::start_with_rules(target, &[])
    }

    /// [`start`](Self::start), evaluating the rules of `rule_files` every
    /// second.
    pub fn start_with_rules(target: SocketAddr, rule_files: &[PathBuf]) -> Option<Self> {
        Self::start_configured(&[target], rule_files, "")
    }

    /// [`start_with_rules`](Self::start_with_rules), scraping every one of
    /// `targets` in the one job; waits until each has been scraped.
    pub fn start_with_targets(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Option<Self> {
        Self::start_configured(targets, rule_files, "")
    }

    /// [`start`](Self::start), with more settings of the scrape job:
    /// YAML lines indented by four spaces (`    authorization: ...\n`).
    pub fn start_with_scrape_settings(target: SocketAddr, settings: &str) -> Option<Self> {
        Self::start_configured(&[target], &[], settings)
    }

    fn start_configured(
        targets: &[SocketAddr],
        rule_files: &[PathBuf],
        scrape_settings: &str,
    ) -> Option<Self> {
        let bin = peer_bin("AUTOTEL_PROMETHEUS_BIN")?;
        let dir = temp_dir("prometheus-config");
        let config = dir.join("prometheus.yml");
        let rule_files: String = rule_files
            .iter()
            .map(|file| format!("  - '{}'\n", file.display()))
            .collect();
        let target_list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let target_list = target_list.join(", ");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n{rule_files}\
                 scrape_configs:\n  - job_name: autotel\n{scrape_settings}    static_configs:\n      - targets: [{target_list}]\n"
            ),
        )
        .expect("write prometheus.yml");
        let (peer, address) = start_listening(
            || {
                let address = loopback(free_port());
                let peer = Peer::start(
                    "prometheus",
                    &bin,
                    &[
                        format!("--config.file={}", config.display()),
                        format!("--storage.tsdb.path={}", dir.join("data").display()),
                        format!("--web.listen-address={address}"),
                    ],
                );
                (peer, address)
            },
            |peer, &address| {
                peer.try_wait_for("the scrape target to be up", || {
                    let answer = get_json(address, "/api/v1/targets")?;
                    let active = answer["data"]["activeTargets"].as_array()?;
                    let up = |target: &SocketAddr| {
                        active.iter().any(|t| {
                            t["health"] == "up"
                                && t["scrapeUrl"]
                                    .as_str()
                                    .is_some_and(|url| url.contains(&target.to_string()))
                        })
                    };
                    targets.iter().all(up).then_some(())
                })
            },
        );
        Some(Self { peer, address })
    }

    /// The samples of an instant query, as (labels, value) pairs, waiting
    /// until the query returns at least one sample.
    pub fn query(&mut self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let address = self.address;
        let path = format!("/api/v1/query?query={}", encode(promql));
        self.peer.wait_for(&format!("samples of `{promql}`"), || {
            let answer = get_json(address, &path)?;
            let samples: Vec<_> = answer["data"]["result"]
                .as_array()?
                .iter()
                .filter_map(|s| {
                    let value = s["value"][1].as_str()?.parse::<f64>().ok()?;
                    Some((s["metric"].clone(), value))
                })
                .collect();
            (!samples.is_empty()).then_some(samples)
        })
    }

    /// The samples of an instant query as it stands, which may be none; `Err`
    /// with Prometheus's answer when it refuses the query.
    pub fn instant(&self, promql: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let response = http_get(self.address, &path).map_err(|e| e.to_string())?;
        let answer: serde_json::Value =
            serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))?;
        if answer["status"] != "success" {
            return Err(response.body);
        }
        let result = answer["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("not a vector: {}", response.body))?;
        Ok(result
            .iter()
            .filter_map(|s| {
                let value = s["value"][1].as_str()?.parse::<f64>().ok()?;
                Some((s["metric"].clone(), value))
            })
            .collect())
    }

    /// The single value of an instant query.
    pub fn value(&mut self, promql: &str) -> f64 {
        let samples = self.query(promql);
        assert_eq!(samples.len(), 1, "`{promql}` gave {samples:?}");
        samples[0].1
    }
}

/// Datadog's test agent, receiving OTLP over gRPC and HTTP.
pub struct TestAgent {
    pub peer: Peer,
    /// OTLP/HTTP port; also serves `/test/session/{traces,logs,metrics}`.
    pub http: SocketAddr,
    /// OTLP/gRPC port.
    pub grpc: SocketAddr,
}

impl TestAgent {
    /// Starts the agent from `AUTOTEL_TEST_AGENT_BIN` and waits until both
    /// OTLP ports answer; `None` when skipped.
    pub fn start() -> Option<Self> {
        let bin = peer_bin("AUTOTEL_TEST_AGENT_BIN")?;
        let (peer, (http, grpc)) = start_listening(
            || {
                let (apm, http, grpc) = (free_port(), free_port(), free_port());
                let peer = Peer::start(
                    "ddapm-test-agent",
                    &bin,
                    &[
                        "--host".into(),
                        "127.0.0.1".into(),
                        "-p".into(),
                        apm.to_string(),
                        "--otlp-http-port".into(),
                        http.to_string(),
                        "--otlp-grpc-port".into(),
                        grpc.to_string(),
                    ],
                );
                (peer, (loopback(http), loopback(grpc)))
            },
            |peer, &(http, grpc)| {
                peer.try_wait_for("the OTLP HTTP port", || {
                    get_json(http, "/test/session/traces")
                })?;
                peer.try_wait_for("the OTLP gRPC port", || {
                    TcpStream::connect_timeout(&grpc, Duration::from_secs(1)).ok()
                })?;
                Ok(())
            },
        );
        Some(Self { peer, http, grpc })
    }

    /// What arrived at `/test/session/{what}`, once `done` accepts it.
    pub fn received(
        &mut self,
        what: &str,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let (http, path) = (self.http, format!("/test/session/{what}"));
        self.peer
            .wait_for(&format!("{what} at the test agent"), || {
                get_json(http, &path).filter(|v| done(v))
            })
    }
}

/// Decodes standard base64, as protobuf's JSON mapping writes bytes fields.
pub fn base64_to_hex(text: &str) -> String {
    let mut bits = 0u32;
    let mut count = 0;
    let mut hex = String::new();
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            hex.push_str(&format!("{:02x}", (bits >> count) & 0xff));
        }
    }
    hex
}

/// The value of attribute `key` in an OTLP attribute list, as a string.
pub fn attribute(attributes: &serde_json::Value, key: &str) -> Option<String> {
    let value = &attributes.as_array()?.iter().find(|kv| kv["key"] == key)?["value"];
    let (_, inner) = value.as_object()?.iter().next()?;
    Some(match inner {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Every `(resource, item)` under `resource_{kind}[].scope_{kind}[].{items}[]`
/// of the requests the agent received.
pub fn items(
    received: &serde_json::Value,
    kind: &str,
    items: &str,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    let requests: Vec<&serde_json::Value> = match received {
        serde_json::Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for request in requests {
        for resource in request[format!("resource_{kind}")]
            .as_array()
            .into_iter()
            .flatten()
        {
            for scope in resource[format!("scope_{kind}")]
                .as_array()
                .into_iter()
                .flatten()
            {
                for item in scope[items].as_array().into_iter().flatten() {
                    out.push((resource["resource"].clone(), item.clone()));
                }
            }
        }
    }
    out
}

/// Listens on `host_port` of the first loopback address (127.0.0.1,
/// 127.0.0.2, ...) where it is free, and forwards every connection to
/// `target`; the address listened on.
///
/// A port number whose meaning matters (4317, 4318) may be taken by another
/// program on 127.0.0.1; the whole of 127.0.0.0/8 is loopback.
pub fn forward_on_port(host_port: u16, target: SocketAddr) -> SocketAddr {
    let listener = (1..=250u8)
        .find_map(|last| TcpListener::bind(SocketAddr::from(([127, 0, 0, last], host_port))).ok())
        .unwrap_or_else(|| panic!("port {host_port} is taken on every loopback address tried"));
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(target) else {
                continue;
            };
            let pairs = [
                (client.try_clone(), upstream.try_clone()),
                (upstream.try_clone(), client.try_clone()),
            ];
            for (from, to) in pairs {
                if let (Ok(mut from), Ok(mut to)) = (from, to) {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        }
    });
    address
}

/// Forwards every connection on a fresh loopback port to `target`, keeping a
/// copy of what clients sent; the address and the copy.
pub fn capture_forward(
    target: SocketAddr,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::Read as _;
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let copy = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(target) else {
                continue;
            };
            let (Ok(mut from_client), Ok(mut to_upstream)) =
                (client.try_clone(), upstream.try_clone())
            else {
                continue;
            };
            let copy = copy.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(n) = from_client.read(&mut buffer) {
                    if n == 0 || to_upstream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    if let Ok(mut copy) = copy.lock() {
                        copy.extend_from_slice(&buffer[..n]);
                    }
                }
                let _ = to_upstream.shutdown(std::net::Shutdown::Write);
            });
            let (Ok(mut from_upstream), Ok(mut to_client)) =
                (upstream.try_clone(), client.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_upstream, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, sent)
}

/// Runs the ignored test `name` of this test binary in a child process, with
/// `vars` set and every variable for which `unset` is true removed; what it
/// printed. Telemetry that installs globals, or reads real variables, runs
/// there without touching the process that runs the other tests.
///
/// # Panics
///
/// When the child does not pass its one test.
pub fn run_test_in_child(
    name: &str,
    vars: &[(&str, &str)],
    unset: impl Fn(&str) -> bool,
) -> String {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args([
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        if unset(&var) {
            command.env_remove(&var);
        }
    }
    let output = command
        .envs(vars.iter().copied())
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
