//! Exponential backoff with full jitter for jobs that failed transiently.
//!
//! A message left on the queue comes back after its visibility timeout, which
//! is the same for every try. Instead, the handler sets each failed message's
//! visibility (`ChangeMessageVisibility`) to a random wait between zero and
//! `min(max, base × 2^(receives − 1))`, so retries spread out and slow down, and a
//! throttled service is not hit again by every failed job at once.
//! <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>

use std::hash::{BuildHasher as _, Hasher as _};

/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_SECONDS: u32 = 43_200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest wait after the first failure.
    pub base_seconds: u32,
    /// No wait is longer than this.
    pub max_seconds: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_seconds: 10,
            max_seconds: 900,
        }
    }
}

impl Backoff {
    pub const BASE_ENV: &str = "JOBS_BACKOFF_BASE_SECONDS";
    pub const MAX_ENV: &str = "JOBS_BACKOFF_MAX_SECONDS";

    /// The longest wait after the delivery numbered `receive_count` failed.
    pub fn ceiling(&self, receive_count: u32) -> u32 {
        let doublings = receive_count.saturating_sub(1).min(31);
        let ceiling = u64::from(self.base_seconds) << doublings;
        ceiling.min(u64::from(self.max_seconds.min(MAX_VISIBILITY_SECONDS))) as u32
    }

    /// A wait drawn uniformly from `0..=ceiling` ("full jitter").
    pub fn delay(&self, receive_count: u32) -> u32 {
        let ceiling = self.ceiling(receive_count);
        (random_unit() * f64::from(ceiling + 1))
            .floor()
            .min(f64::from(ceiling)) as u32
    }

    /// The longest a job is retried before the queue's redrive policy dead-letters
    /// it: the waits after deliveries 1 to `max_receive_count − 1`, each at its
    /// ceiling (the handler's own run time not counted).
    pub fn longest_retry_span(&self, max_receive_count: u32) -> u64 {
        (1..max_receive_count)
            .map(|n| u64::from(self.ceiling(n)))
            .sum()
    }
}

/// A number in `[0, 1)` from the standard library's per-process random keys:
/// enough for jitter, which needs spread rather than secrecy.
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let backoff = Backoff {
            base_seconds: 10,
            max_seconds: 900,
        };
        let ceilings: Vec<u32> = (1..=9).map(|n| backoff.ceiling(n)).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(backoff.ceiling(1000), 900);
        assert_eq!(
            Backoff {
                base_seconds: 60,
                max_seconds: 100_000
            }
            .ceiling(20),
            MAX_VISIBILITY_SECONDS
        );
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_spread_out() {
        let backoff = Backoff {
            base_seconds: 10,
            max_seconds: 900,
        };
        let delays: Vec<u32> = (0..2000).map(|_| backoff.delay(4)).collect();
        assert!(delays.iter().all(|d| *d <= 80));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 40,
            "full jitter spreads over the range: {distinct:?}"
        );
        let low = delays.iter().filter(|d| **d < 40).count();
        assert!(
            (700..1300).contains(&low),
            "about half below the middle: {low}"
        );
    }

    #[test]
    fn the_retry_span_sums_the_ceilings_before_the_last_delivery() {
        let backoff = Backoff {
            base_seconds: 10,
            max_seconds: 900,
        };
        assert_eq!(backoff.longest_retry_span(5), 10 + 20 + 40 + 80);
        assert_eq!(backoff.longest_retry_span(1), 0);
        // docs/guarantees.md: the defaults under the stack's MaxReceiveCount of 10,
        assert_eq!(backoff.longest_retry_span(10), 3070);
        // and a longer outage ridden out.
        let patient = Backoff {
            base_seconds: 60,
            max_seconds: 900,
        };
        assert_eq!(patient.longest_retry_span(8), 3600);
        assert_eq!(patient.longest_retry_span(10), 5400);
    }
}
