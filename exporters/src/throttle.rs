//! At most one warning per kind of export failure per minute: the failures
//! in between are counted, and the next warning says how many there were.

use std::time::{Duration, Instant};

/// How often one kind of failure is reported at most.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// When each kind of failure was last reported, and how many were not.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    lines: Vec<Line>,
}

#[derive(Debug)]
struct Line {
    reason: &'static str,
    last: Instant,
    suppressed: u64,
}

impl Throttle {
    /// `Some(failures not reported since the last report)` when a failure
    /// of `reason` is due for a report; `None`, counting its `failures` as
    /// not reported, when one was reported less than [`REPORT_INTERVAL`] ago.
    pub(crate) fn due(&mut self, reason: &'static str, failures: u64) -> Option<u64> {
        let now = Instant::now();
        match self.lines.iter_mut().find(|line| line.reason == reason) {
            None => {
                self.lines.push(Line {
                    reason,
                    last: now,
                    suppressed: 0,
                });
                Some(0)
            }
            Some(line) if now.duration_since(line.last) >= REPORT_INTERVAL => {
                line.last = now;
                Some(std::mem::take(&mut line.suppressed))
            }
            Some(line) => {
                line.suppressed += failures;
                None
            }
        }
    }
}

/// Adds to `message` how many failures of its kind were not reported, when
/// there were any.
pub(crate) fn note_suppressed(message: &mut String, suppressed: u64) {
    if suppressed > 0 {
        message.push_str(&format!(
            " ({suppressed} more failures of this kind since the last report)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_kind_once_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.due("timeout", 1), Some(0));
        assert_eq!(throttle.due("timeout", 3), None);
        assert_eq!(throttle.due("timeout", 1), None);
        assert_eq!(throttle.due("unavailable", 1), Some(0), "another kind");
        throttle.lines[0].last -= REPORT_INTERVAL;
        assert_eq!(throttle.due("timeout", 1), Some(4));
        let mut message = "failed".to_owned();
        note_suppressed(&mut message, 4);
        assert_eq!(
            message,
            "failed (4 more failures of this kind since the last report)"
        );
    }
}
