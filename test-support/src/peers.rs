//! Real peers started on loopback: any program as a [`Peer`], a Prometheus
//! server ([`PrometheusPeer`]) and Datadog's test agent as an OTLP receiver
//! ([`TestAgent`]).
//!
//! `scripts/peers.sh` installs the peers and exports the paths of their
//! binaries. A test that needs a peer whose variable is unset fails when `CI`
//! is set and is skipped, with a message, otherwise.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::http::{encode, get, get_json};
use crate::net::{free_port, loopback};

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

/// A fresh, empty directory for one test, under the system's temporary
/// directory.
///
/// # Panics
///
/// When the directory cannot be created.
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
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    dir: PathBuf,
}

impl Peer {
    /// Starts `bin` with `args` in a fresh directory.
    ///
    /// # Panics
    ///
    /// When the program cannot be started.
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

    /// The end of what the peer printed so far, on each of its outputs.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        let tail = |s: String| {
            let start = s.ceil_char_boundary(s.len().saturating_sub(4000));
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

    /// Polls `check` until it returns `Some`.
    ///
    /// # Panics
    ///
    /// With the peer's logs, when the peer exits or [`PEER_DEADLINE`] passes.
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

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
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

/// A Prometheus server scraping its targets every second.
#[derive(Debug)]
pub struct PrometheusPeer {
    /// The server's process.
    pub peer: Peer,
    /// Where its HTTP API listens.
    pub address: SocketAddr,
}

impl PrometheusPeer {
    /// Starts the server from `AUTOTEL_PROMETHEUS_BIN` and waits until its
    /// first scrape of `target` succeeded; `None` when skipped.
    ///
    /// # Panics
    ///
    /// When the server does not start or never scrapes `target`.
    pub fn start(target: SocketAddr) -> Option<Self> {
        Self::start_with_rules(target, &[])
    }

    /// [`start`](Self::start), evaluating the rules of `rule_files` every
    /// second.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_rules(target: SocketAddr, rule_files: &[PathBuf]) -> Option<Self> {
        Self::start_configured(&[target], rule_files, "", &[])
    }

    /// [`start_with_rules`](Self::start_with_rules), scraping every one of
    /// `targets` in the one job; waits until each has been scraped.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_targets(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Option<Self> {
        Self::start_configured(targets, rule_files, "", &[])
    }

    /// [`start`](Self::start), with more settings of the scrape job:
    /// YAML lines indented by four spaces (`    authorization: ...\n`).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_scrape_settings(target: SocketAddr, settings: &str) -> Option<Self> {
        Self::start_configured(&[target], &[], settings, &[])
    }

    /// [`start`](Self::start) with exemplar storage
    /// (`--enable-feature=exemplar-storage`): the exemplars of OpenMetrics
    /// scrapes are kept, and read with [`exemplars`](Self::exemplars).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_exemplars(target: SocketAddr) -> Option<Self> {
        Self::start_configured(&[target], &[], "", &["--enable-feature=exemplar-storage"])
    }

    /// The exemplars `/api/v1/query_exemplars` gives for `promql` over the
    /// last hour, as (series labels, exemplar labels, value) triples; waits
    /// until `done` accepts them.
    ///
    /// # Panics
    ///
    /// When `done` accepts nothing within [`PEER_DEADLINE`].
    pub fn exemplars(
        &mut self,
        promql: &str,
        mut done: impl FnMut(&[(serde_json::Value, serde_json::Value, f64)]) -> bool,
    ) -> Vec<(serde_json::Value, serde_json::Value, f64)> {
        let address = self.address;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.peer.wait_for(&format!("exemplars of `{promql}`"), || {
            let path = format!(
                "/api/v1/query_exemplars?query={}&start={}&end={}",
                encode(promql),
                now - 3600,
                now + 3600
            );
            let answer = get_json(address, &path)?;
            let found: Vec<_> = answer["data"]
                .as_array()?
                .iter()
                .flat_map(|series| {
                    let labels = series["seriesLabels"].clone();
                    series["exemplars"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(move |exemplar| {
                            let value = exemplar["value"].as_str()?.parse().ok()?;
                            Some((labels.clone(), exemplar["labels"].clone(), value))
                        })
                })
                .collect();
            done(&found).then_some(found)
        })
    }

    fn start_configured(
        targets: &[SocketAddr],
        rule_files: &[PathBuf],
        scrape_settings: &str,
        flags: &[&str],
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
                let mut args = vec![
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", dir.join("data").display()),
                    format!("--web.listen-address={address}"),
                ];
                args.extend(flags.iter().map(|flag| (*flag).to_owned()));
                let peer = Peer::start("prometheus", &bin, &args);
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
    ///
    /// # Panics
    ///
    /// When no sample comes within [`PEER_DEADLINE`].
    pub fn query(&mut self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let address = self.address;
        let path = format!("/api/v1/query?query={}", encode(promql));
        self.peer.wait_for(&format!("samples of `{promql}`"), || {
            let answer = get_json(address, &path)?;
            let samples = vector(&answer)?;
            (!samples.is_empty()).then_some(samples)
        })
    }

    /// The samples of an instant query as it stands, which may be none; `Err`
    /// with Prometheus's answer when it refuses the query.
    pub fn instant(&self, promql: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let response = get(self.address, &path).map_err(|e| e.to_string())?;
        let answer: serde_json::Value =
            serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))?;
        if answer["status"] != "success" {
            return Err(response.body);
        }
        vector(&answer).ok_or_else(|| format!("not a vector: {}", response.body))
    }

    /// The single value of an instant query.
    ///
    /// # Panics
    ///
    /// When the query gives no sample within [`PEER_DEADLINE`], or several.
    pub fn value(&mut self, promql: &str) -> f64 {
        let samples = self.query(promql);
        assert_eq!(samples.len(), 1, "`{promql}` gave {samples:?}");
        samples[0].1
    }
}

/// The (labels, value) pairs of an instant vector answer; `None` when the
/// answer holds no vector.
fn vector(answer: &serde_json::Value) -> Option<Vec<(serde_json::Value, f64)>> {
    Some(
        answer["data"]["result"]
            .as_array()?
            .iter()
            .filter_map(|s| {
                let value = s["value"][1].as_str()?.parse::<f64>().ok()?;
                Some((s["metric"].clone(), value))
            })
            .collect(),
    )
}

/// Datadog's test agent, receiving OTLP over gRPC and HTTP. The
/// [`otlp`](crate::otlp) module reads what it received.
#[derive(Debug)]
pub struct TestAgent {
    /// The agent's process.
    pub peer: Peer,
    /// OTLP/HTTP port; also serves `/test/session/{traces,logs,metrics}`.
    pub http: SocketAddr,
    /// OTLP/gRPC port.
    pub grpc: SocketAddr,
}

impl TestAgent {
    /// Starts the agent from `AUTOTEL_TEST_AGENT_BIN` and waits until both
    /// OTLP ports answer; `None` when skipped.
    ///
    /// # Panics
    ///
    /// When the agent does not start or its ports never answer.
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
    ///
    /// # Panics
    ///
    /// When `done` accepts nothing within [`PEER_DEADLINE`].
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

/// What `promtool check metrics` says of `text`: whether it passed and what
/// it printed; `None` (skip) when promtool is not installed outside CI.
///
/// # Panics
///
/// When promtool is named but does not run, or in CI when it is missing.
pub fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let promtool = peer_bin("AUTOTEL_PROMTOOL_BIN")?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads the text");
    let output = child.wait_with_output().expect("promtool finishes");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), said))
}
