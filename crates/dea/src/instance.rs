//! An app instance as the DEA holds it, and its state machine (reference §4.3).
//!
//! [`transition`] is pure: given a state and an event it says the next state and the messages
//! and actions that follow, so the table of §4.3 is tested without processes or NATS. The
//! agent applies the effects.

use cfsim_messages::{ExitReason, HeartbeatEntry, InstanceState, Limits};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Default limits when the start message has none (`DEFAULT_APP_*` of the Ruby DEA).
pub const DEFAULT_LIMITS: Limits = Limits {
    mem: 512,
    disk: 256,
    fds: 1024,
};

/// What happens to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The port answered.
    Ready,
    /// Download, unpack, launch or readiness failed.
    StartFailed,
    /// The process exited by itself.
    ProcessExited,
    /// A matching `dea.stop`.
    Stop,
    /// The DEA is shutting down.
    Shutdown,
    /// The DEA is evacuating (SIGUSR2): the instance keeps running until the shutdown.
    Evacuate,
    /// The crash reaper found the record too old.
    Reap,
}

/// What the agent must do after a transition, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `dea.heartbeat` with this instance only.
    Heartbeat,
    /// `router.register` of the instance's uris.
    Register,
    /// `router.unregister` of the instance's uris.
    Unregister,
    /// `droplet.exited` with this reason (and `crash_timestamp` for CRASHED).
    Exited(ExitReason),
    /// Kill the instance's process group.
    Kill,
    /// The memory reservation ended: `dea.advertise`.
    Advertise,
    /// Forget the record and delete its directory.
    Remove,
}

/// The result of an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new state.
    pub to: InstanceState,
    /// What to do.
    pub effects: Vec<Effect>,
}

/// The state machine of §4.3. `None`: the event does not apply in this state (e.g. the
/// process exit that follows a stop). An instance reports its exit once (v1's `notified`
/// flag): the agent drops the `Exited` effect of an instance that already reported one, so an
/// evacuated instance ends at the shutdown without a second `droplet.exited`.
pub fn transition(from: InstanceState, event: Event) -> Option<Transition> {
    use Effect::*;
    use InstanceState::*;
    let (to, effects) = match (from, event) {
        (Starting, Event::Ready) => (Running, vec![Heartbeat, Register]),
        // v1's exit message always unregisters the uris first (`send_exited_message`), even
        // for an instance that never got as far as registering them.
        (Starting, Event::StartFailed) => (
            Crashed,
            vec![Unregister, Exited(ExitReason::Crashed), Kill, Advertise],
        ),
        (Starting, Event::ProcessExited) => (
            Crashed,
            vec![Unregister, Exited(ExitReason::Crashed), Advertise],
        ),
        (Running, Event::ProcessExited | Event::StartFailed) => (
            Crashed,
            vec![Unregister, Exited(ExitReason::Crashed), Kill, Advertise],
        ),
        (Starting | Running, Event::Stop) => (
            Stopped,
            vec![
                Unregister,
                Exited(ExitReason::Stopped),
                Kill,
                Advertise,
                Remove,
            ],
        ),
        (Starting | Running, Event::Shutdown) => (
            Stopped,
            vec![Unregister, Exited(ExitReason::DeaShutdown), Kill, Remove],
        ),
        (Starting | Running, Event::Evacuate) => (from, vec![Exited(ExitReason::DeaEvacuation)]),
        (Crashed, Event::Stop | Event::Reap) => (Deleted, vec![Remove]),
        _ => return None,
    };
    Some(Transition { to, effects })
}

/// Epoch seconds now.
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One instance record (v1's `@droplets[droplet_id][instance_id]`).
#[derive(Debug, Clone)]
pub struct Instance {
    /// App id.
    pub droplet: u64,
    /// Instance id, 32 hex.
    pub id: String,
    /// Instance index.
    pub index: u32,
    /// App name.
    pub name: String,
    /// Current URLs.
    pub uris: Vec<String>,
    /// `[owner email]`.
    pub users: Vec<String>,
    /// `"<sha1>-<run_count>"`.
    pub version: String,
    /// Runtime name.
    pub runtime: String,
    /// Framework name.
    pub framework: String,
    /// Limits (MB, MB, count).
    pub limits: Limits,
    /// `"<name>-<index>-<id>"`, the directory under `instances/`.
    pub staged: String,
    /// The instance directory.
    pub dir: PathBuf,
    /// State.
    pub state: InstanceState,
    /// Epoch seconds of the last state change.
    pub state_timestamp: u64,
    /// When the start was accepted.
    pub start: SystemTime,
    /// For uptime.
    pub started_at: Instant,
    /// When the state last changed (for the crash reaper).
    pub changed_at: Instant,
    /// The app's port, once chosen.
    pub port: Option<u16>,
    /// The process group (= pid of `startup`), once launched.
    pub pgid: Option<i32>,
    /// Why it exited.
    pub exit_reason: Option<ExitReason>,
    /// The start message carried `flapping: true`.
    pub flapping: bool,
}

impl Instance {
    /// Whether the instance holds a memory reservation (STARTING or RUNNING).
    pub fn reserves(&self) -> bool {
        self.state.is_running()
    }

    /// Whether its exit was already reported (v1 `notified`): evacuated, stopped or crashed.
    pub fn notified(&self) -> bool {
        self.exit_reason.is_some()
    }

    /// Whether it was evacuated (reported DEA_EVACUATION while still running).
    pub fn evacuated(&self) -> bool {
        self.exit_reason == Some(ExitReason::DeaEvacuation)
    }

    /// Moves to `to`, stamping the time.
    pub fn set_state(&mut self, to: InstanceState) {
        self.state = to;
        self.state_timestamp = now_epoch();
        self.changed_at = Instant::now();
    }

    /// Its `dea.heartbeat` entry.
    pub fn heartbeat_entry(&self) -> HeartbeatEntry {
        HeartbeatEntry {
            droplet: self.droplet,
            version: self.version.clone(),
            instance: self.id.clone(),
            index: self.index,
            state: self.state,
            state_timestamp: self.state_timestamp,
            cc_partition: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Effect::*;
    use super::*;
    use InstanceState::*;

    fn effects(from: InstanceState, event: Event) -> (InstanceState, Vec<Effect>) {
        let t = transition(from, event).expect("transition applies");
        (t.to, t.effects)
    }

    #[test]
    fn ready_sends_one_heartbeat_then_registers() {
        assert_eq!(
            effects(Starting, Event::Ready),
            (Running, vec![Heartbeat, Register])
        );
        assert!(transition(Running, Event::Ready).is_none());
    }

    #[test]
    fn crash_of_a_running_instance_unregisters_and_reports_crashed() {
        let (to, fx) = effects(Running, Event::ProcessExited);
        assert_eq!(to, Crashed);
        assert_eq!(fx[0], Unregister);
        assert!(fx.contains(&Exited(ExitReason::Crashed)));
        assert!(!fx.contains(&Remove), "crashed records are kept");
    }

    #[test]
    fn failed_start_is_a_crash_that_unregisters_first_as_in_v1() {
        for event in [Event::StartFailed, Event::ProcessExited] {
            let (to, fx) = effects(Starting, event);
            assert_eq!(to, Crashed);
            assert_eq!(
                fx[0], Unregister,
                "v1's send_exited_message unregisters (if uris)"
            );
            assert!(fx.contains(&Exited(ExitReason::Crashed)));
        }
    }

    #[test]
    fn stop_reports_stopped_and_removes() {
        let (to, fx) = effects(Running, Event::Stop);
        assert_eq!(to, Stopped);
        assert_eq!(
            fx,
            vec![
                Unregister,
                Exited(ExitReason::Stopped),
                Kill,
                Advertise,
                Remove
            ]
        );
        assert_eq!(effects(Starting, Event::Stop), (to, fx));
    }

    #[test]
    fn stop_of_a_crashed_instance_deletes_without_a_second_exit() {
        assert_eq!(effects(Crashed, Event::Stop), (Deleted, vec![Remove]));
        assert_eq!(effects(Crashed, Event::Reap), (Deleted, vec![Remove]));
    }

    #[test]
    fn shutdown_reports_dea_shutdown_and_leaves_crashed_alone() {
        let (to, fx) = effects(Running, Event::Shutdown);
        assert_eq!(to, Stopped);
        assert!(fx.contains(&Exited(ExitReason::DeaShutdown)));
        assert!(fx.contains(&Unregister));
        assert!(transition(Crashed, Event::Shutdown).is_none());
    }

    #[test]
    fn evacuation_reports_dea_evacuation_and_keeps_the_instance_running() {
        for state in [Starting, Running] {
            assert_eq!(
                effects(state, Event::Evacuate),
                (state, vec![Exited(ExitReason::DeaEvacuation)])
            );
        }
        assert!(transition(Crashed, Event::Evacuate).is_none());
    }

    #[test]
    fn events_after_the_end_are_ignored() {
        for event in [Event::ProcessExited, Event::StartFailed, Event::Ready] {
            assert!(transition(Stopped, event).is_none());
            assert!(transition(Crashed, event).is_none());
            assert!(transition(Deleted, event).is_none());
        }
        assert!(transition(Running, Event::Reap).is_none());
    }
}
