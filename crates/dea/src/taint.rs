//! `dea.discover` admission and the taint delay (reference §4.5, `calculate_help_taint`).
//!
//! Every eligible DEA answers a discover, but after a delay that grows with how many records of
//! that droplet it already holds (crashed ones included) and with how full it is, so the CC,
//! which takes the first reply, spreads instances over the least-loaded DEAs.
//!
//! The delay is not multiplied by the cluster's time scale: it only orders the replies to one
//! request inside the CC's (unscaled) discover timeout, and a scaled 250 ms would stop
//! spreading instances at small scales.

use std::time::Duration;

/// Milliseconds per instance record of the droplet on this DEA.
pub const TAINT_MS_PER_APP: f64 = 10.0;
/// Milliseconds for a completely reserved DEA.
pub const TAINT_MS_FOR_MEM: f64 = 100.0;
/// Upper bound of the delay, milliseconds.
pub const TAINT_MAX_DELAY_MS: f64 = 250.0;

/// The reply delay: `min(10 × records + 100 × reserved/max, 250)` ms.
pub fn taint_delay(droplet_records: usize, reserved_mb: u64, max_mb: u64) -> Duration {
    let mem_fraction = if max_mb == 0 {
        1.0
    } else {
        reserved_mb as f64 / max_mb as f64
    };
    let ms = TAINT_MS_PER_APP * droplet_records as f64 + TAINT_MS_FOR_MEM * mem_fraction;
    Duration::from_secs_f64(ms.min(TAINT_MAX_DELAY_MS) / 1000.0)
}

/// What the DEA knows about itself when it decides whether to take an instance.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Memory reserved by STARTING/RUNNING instances, MB.
    pub reserved_mb: u64,
    /// Configured memory, MB.
    pub max_mb: u64,
    /// Instances reserving resources.
    pub clients: u32,
    /// Most instances at once.
    pub max_clients: u32,
}

impl Capacity {
    /// Whether an instance needing `mem_mb` fits (reference §4.2 step 3, §4.5).
    pub fn fits(&self, mem_mb: u64) -> bool {
        self.clients < self.max_clients
            && self.reserved_mb <= self.max_mb
            && self.reserved_mb + mem_mb <= self.max_mb
    }

    /// Whether the DEA has room at all (`dea.advertise` is not sent otherwise).
    pub fn has_room(&self) -> bool {
        self.clients < self.max_clients && self.reserved_mb < self.max_mb
    }

    /// `max_memory - reserved_mem`, as advertised.
    pub fn available_mb(&self) -> u64 {
        self.max_mb.saturating_sub(self.reserved_mb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dea_answers_at_once() {
        assert_eq!(taint_delay(0, 0, 4096), Duration::ZERO);
    }

    #[test]
    fn each_record_adds_ten_ms_and_memory_adds_up_to_a_hundred() {
        assert_eq!(taint_delay(1, 0, 4096), Duration::from_millis(10));
        assert_eq!(taint_delay(3, 0, 4096), Duration::from_millis(30));
        assert_eq!(taint_delay(0, 2048, 4096), Duration::from_millis(50));
        assert_eq!(taint_delay(2, 1024, 4096), Duration::from_millis(45));
    }

    #[test]
    fn delay_is_capped_at_250_ms() {
        assert_eq!(taint_delay(30, 4096, 4096), Duration::from_millis(250));
        assert_eq!(taint_delay(24, 4096, 4096), Duration::from_millis(250));
    }

    #[test]
    fn fit_checks_memory_and_clients() {
        let c = Capacity {
            reserved_mb: 384,
            max_mb: 512,
            clients: 3,
            max_clients: 4,
        };
        assert!(c.fits(128));
        assert!(!c.fits(129));
        assert!(c.has_room());
        assert_eq!(c.available_mb(), 128);
        let full = Capacity { clients: 4, ..c };
        assert!(!full.fits(1));
        assert!(!full.has_room());
        let no_mem = Capacity {
            reserved_mb: 512,
            ..c
        };
        assert!(!no_mem.has_room());
        assert!(no_mem.fits(0));
    }
}
