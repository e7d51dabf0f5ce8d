//! The cluster-wide time scale: one factor that multiplies every protocol timer of every
//! component (heartbeat, advertise, `router.start`, prune threshold, the health manager's
//! intervals and back-off), so a class or a test can watch a 120 s prune or a 240 s back-off
//! happen in seconds with the same message sequence.
//!
//! Components keep their configured values in seconds, as CF v1 wrote them, and turn each
//! into a [`Duration`] through [`TimeScale::secs`]; [`Timers`] lists both values for `/varz`
//! so an observer sees what was configured and what is in effect. Request timeouts (a 2 s
//! `dea.discover`, a 1 s `healthmanager.health`) are not protocol timers: they bound a wait
//! for a reply on a fast network and are not scaled.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The smallest timer a scale may produce, so a scaled interval never spins.
const MIN_TIMER: Duration = Duration::from_millis(1);

/// A positive, finite factor on protocol timers; 1.0 is real time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct TimeScale(f64);

/// Why a time scale was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("time scale must be a positive finite number, not {0}")]
pub struct TimeScaleError(pub f64);

impl TimeScale {
    /// Real time.
    pub const REAL: TimeScale = TimeScale(1.0);

    /// A time scale of `factor` (0.01 runs timers 100 times faster).
    pub fn new(factor: f64) -> Result<TimeScale, TimeScaleError> {
        if factor.is_finite() && factor > 0.0 {
            Ok(TimeScale(factor))
        } else {
            Err(TimeScaleError(factor))
        }
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// `seconds` of protocol time as the duration in effect (at least 1 ms).
    pub fn secs(self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.0).max(0.0)).max(MIN_TIMER)
    }

    /// A duration of protocol time as the duration in effect (at least 1 ms).
    pub fn scale(self, duration: Duration) -> Duration {
        self.secs(duration.as_secs_f64())
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        TimeScale::REAL
    }
}

impl TryFrom<f64> for TimeScale {
    type Error = TimeScaleError;
    fn try_from(factor: f64) -> Result<Self, Self::Error> {
        TimeScale::new(factor)
    }
}

impl From<TimeScale> for f64 {
    fn from(scale: TimeScale) -> f64 {
        scale.0
    }
}

impl std::str::FromStr for TimeScale {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let factor: f64 = text
            .parse()
            .map_err(|_| format!("time scale must be a number, not {text:?}"))?;
        TimeScale::new(factor).map_err(|e| e.to_string())
    }
}

/// A component's protocol timers as `/varz` shows them: the scale, then for each timer the
/// configured seconds and the seconds in effect.
#[derive(Debug, Clone)]
pub struct Timers {
    scale: TimeScale,
    entries: Map<String, Value>,
}

impl Timers {
    /// An empty list under `scale`.
    pub fn new(scale: TimeScale) -> Timers {
        Timers {
            scale,
            entries: Map::new(),
        }
    }

    /// Adds a timer configured at `seconds`.
    pub fn with(mut self, name: &str, seconds: f64) -> Timers {
        let effective = self.scale.secs(seconds).as_secs_f64();
        self.entries.insert(
            name.to_owned(),
            json!({ "configured": seconds, "effective": effective }),
        );
        self
    }

    /// The `/varz` fields: `time_scale` and `timers`.
    pub fn varz(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("time_scale".into(), json!(self.scale.factor()));
        fields.insert("timers".into(), Value::Object(self.entries.clone()));
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_is_the_identity() {
        assert_eq!(TimeScale::REAL.secs(120.0), Duration::from_secs(120));
        assert_eq!(
            TimeScale::default().scale(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_small_scale_shortens_every_timer() {
        let scale = TimeScale::new(0.01).unwrap();
        assert_eq!(scale.secs(120.0), Duration::from_millis(1200));
        assert_eq!(
            scale.scale(Duration::from_secs(30)),
            Duration::from_millis(300)
        );
    }

    #[test]
    fn a_timer_never_drops_below_one_millisecond() {
        let scale = TimeScale::new(1e-9).unwrap();
        assert_eq!(scale.secs(10.0), Duration::from_millis(1));
        assert_eq!(TimeScale::REAL.secs(0.0), Duration::from_millis(1));
    }

    #[test]
    fn zero_negative_and_non_finite_scales_are_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(TimeScale::new(bad).is_err(), "{bad}");
        }
        assert!("0".parse::<TimeScale>().is_err());
        assert!("fast".parse::<TimeScale>().is_err());
        assert_eq!("0.5".parse::<TimeScale>().unwrap().factor(), 0.5);
    }

    #[test]
    fn a_config_file_value_is_checked() {
        #[derive(Deserialize)]
        struct C {
            time_scale: TimeScale,
        }
        let c: C = toml::from_str("time_scale = 0.1").unwrap();
        assert_eq!(c.time_scale.factor(), 0.1);
        assert!(toml::from_str::<C>("time_scale = -2.0").is_err());
    }

    #[test]
    fn varz_shows_configured_and_effective_seconds() {
        let timers = Timers::new(TimeScale::new(0.1).unwrap())
            .with("heartbeat", 10.0)
            .with("advertise", 5.0);
        let varz = Value::Object(timers.varz());
        assert_eq!(varz["time_scale"], 0.1);
        assert_eq!(varz["timers"]["heartbeat"]["configured"], 10.0);
        assert_eq!(varz["timers"]["heartbeat"]["effective"], 1.0);
        assert_eq!(varz["timers"]["advertise"]["effective"], 0.5);
    }
}
