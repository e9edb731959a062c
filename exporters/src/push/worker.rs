//! The threads of the push exporters: one reads the recorder every
//! interval, one per exporter sends.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use autotel_layers::catalog;

use super::exporter::{PushExporter, Reporter};
use super::recorder::{Baselines, PushRecorder};
use super::snapshot::Snapshot;

/// Snapshots an exporter may have waiting while it sends another.
const QUEUE: usize = 2;

enum Command {
    /// Read and send now; answer once every exporter sent it.
    Flush(Sender<()>),
}

struct Job {
    snapshot: Arc<Snapshot>,
    done: Option<Sender<()>>,
}

/// Keeps the push exporters running; dropping it sends what was recorded
/// since the last interval and stops them.
///
/// Dropping waits at most the shutdown timeout
/// ([`Push::with_shutdown_timeout`](super::Push::with_shutdown_timeout)).
#[must_use = "dropping the guard stops the push exporters"]
#[derive(Debug)]
pub struct PushGuard {
    commands: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl PushGuard {
    /// Reads the recorder now and waits, at most `timeout`, until every
    /// exporter has sent the snapshot. Returns whether they all did.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(commands) = &self.commands else {
            return false;
        };
        let (done, finished) = mpsc::channel();
        if commands.send(Command::Flush(done)).is_err() {
            return false;
        }
        finished.recv_timeout(timeout).is_ok()
    }
}

impl Drop for PushGuard {
    fn drop(&mut self) {
        // Closing the channel asks for the last snapshot.
        drop(self.commands.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + self.shutdown_timeout;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

pub(super) fn start(
    recorder: PushRecorder,
    interval: Duration,
    shutdown_timeout: Duration,
    exporters: Vec<Box<dyn PushExporter>>,
) -> std::io::Result<PushGuard> {
    let mut lanes = Vec::with_capacity(exporters.len());
    for exporter in exporters {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("autotel-push-{}", exporter.name()))
            .spawn(move || export_loop(exporter, queue))?;
        lanes.push(Lane { jobs, thread });
    }
    let (commands, orders) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("autotel-push".into())
        .spawn(move || {
            read_loop(&recorder, interval, shutdown_timeout, &orders, lanes);
        })?;
    Ok(PushGuard {
        commands: Some(commands),
        thread: Some(thread),
        shutdown_timeout,
    })
}

struct Lane {
    jobs: SyncSender<Job>,
    thread: JoinHandle<()>,
}

fn read_loop(
    recorder: &PushRecorder,
    interval: Duration,
    shutdown_timeout: Duration,
    orders: &Receiver<Command>,
    lanes: Vec<Lane>,
) {
    let mut baselines = Baselines::default();
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match orders.recv_timeout(wait) {
            Ok(Command::Flush(done)) => {
                let snapshot = read(recorder, &mut baselines, interval);
                let mut waits = Vec::with_capacity(lanes.len());
                for lane in &lanes {
                    let (sent, finished) = mpsc::channel();
                    let job = Job {
                        snapshot: Arc::clone(&snapshot),
                        done: Some(sent),
                    };
                    if hand_over(lane, job, Instant::now() + shutdown_timeout) {
                        waits.push(finished);
                    }
                }
                let all = waits.len() == lanes.len();
                let deadline = Instant::now() + shutdown_timeout;
                let sent = waits.iter().all(|finished| {
                    let left = deadline.saturating_duration_since(Instant::now());
                    finished.recv_timeout(left).is_ok()
                });
                if all && sent {
                    let _ = done.send(());
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                next += interval;
                let now = Instant::now();
                if next < now {
                    // Asleep longer than an interval (suspended machine):
                    // the next read is one interval from now.
                    next = now + interval;
                }
                let snapshot = read(recorder, &mut baselines, interval);
                for lane in &lanes {
                    let job = Job {
                        snapshot: Arc::clone(&snapshot),
                        done: None,
                    };
                    if let Err(TrySendError::Full(_)) = lane.jobs.try_send(job) {
                        count_dropped();
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // The guard is gone: send what is left, then let each exporter finish.
    let snapshot = read(recorder, &mut baselines, interval);
    let deadline = Instant::now() + shutdown_timeout;
    for lane in &lanes {
        let job = Job {
            snapshot: Arc::clone(&snapshot),
            done: None,
        };
        hand_over(lane, job, deadline);
    }
    let threads: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            drop(lane.jobs);
            lane.thread
        })
        .collect();
    for thread in threads {
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

fn read(recorder: &PushRecorder, baselines: &mut Baselines, interval: Duration) -> Arc<Snapshot> {
    let (snapshot, rejected) = recorder.collect(baselines, SystemTime::now(), interval);
    if rejected > 0 {
        metrics::counter!(
            catalog::AUTOTEL_DROPPED_TOTAL.name(),
            "signal" => "metrics",
            "reason" => "not_finite"
        )
        .increment(rejected);
    }
    Arc::new(snapshot)
}

/// Queues `job` for the lane, waiting for room until `deadline`; a job that
/// finds no room in time is dropped and counted.
fn hand_over(lane: &Lane, mut job: Job, deadline: Instant) -> bool {
    loop {
        match lane.jobs.try_send(job) {
            Ok(()) => return true,
            Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                job = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TrySendError::Full(_)) => {
                count_dropped();
                return false;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}

fn count_dropped() {
    metrics::counter!(
        catalog::AUTOTEL_DROPPED_TOTAL.name(),
        "signal" => "metrics",
        "reason" => "queue_full"
    )
    .increment(1);
}

fn export_loop(mut exporter: Box<dyn PushExporter>, queue: Receiver<Job>) {
    let mut reporter = Reporter::new(exporter.name());
    for job in queue {
        if let Err(error) = exporter.export(&job.snapshot) {
            reporter.failed(&error);
        }
        if let Some(done) = job.done {
            let _ = done.send(());
        }
    }
    if let Err(error) = exporter.shutdown() {
        reporter.failed(&error);
    }
}
