//! What the state tells others: the replies to `healthmanager.status` and
//! `healthmanager.health` (CF-V1-REFERENCE §2, v1 `process_status_message` /
//! `process_health_message`) and the counts shown on `/varz`.
//!
//! The HM answers only for apps it knows: the CC's `timed_request` then times out and falls
//! back (it asks the DEAs), exactly as when no HM runs at all.

use super::Droplets;
use cfsim_messages::{
    CrashedInstance, FlappingIndex, HmCrashedReply, HmFlappingReply, HmHealthReply,
    HmHealthRequest, HmStatusReply, HmStatusRequest, InstanceState,
};

/// The `/varz` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Apps tracked.
    pub apps: usize,
    /// Desired instances over all STARTED apps.
    pub instances: u64,
    /// Indices STARTING or RUNNING (any version).
    pub running: u64,
    /// Indices DOWN.
    pub down: u64,
    /// Indices FLAPPING.
    pub flapping: u64,
    /// Recent crash records.
    pub crashed: u64,
}

impl Droplets {
    /// The reply to `healthmanager.status`, or `None` (no reply) for an unknown app or state.
    pub fn status(&self, request: &HmStatusRequest) -> Option<HmStatusReply> {
        match request.state {
            InstanceState::Flapping => self
                .flapping(request.droplet, request.version.as_deref()?)
                .map(HmStatusReply::Flapping),
            InstanceState::Crashed => self.crashed(request.droplet).map(HmStatusReply::Crashed),
            _ => None,
        }
    }

    /// The FLAPPING indices of `version`: `{indices:[{index, since}]}`.
    pub fn flapping(&self, droplet: u64, version: &str) -> Option<HmFlappingReply> {
        let app = self.apps.get(&droplet)?;
        let indices = app
            .versions
            .get(version)
            .into_iter()
            .flatten()
            .filter(|(_, e)| e.state == Some(InstanceState::Flapping))
            .map(|(&index, e)| FlappingIndex {
                index,
                since: e.state_timestamp as u64,
            })
            .collect();
        Some(HmFlappingReply { indices })
    }

    /// The recent crashes: `{instances:[{instance, since}]}`, oldest first.
    pub fn crashed(&self, droplet: u64) -> Option<HmCrashedReply> {
        let app = self.apps.get(&droplet)?;
        let mut instances: Vec<CrashedInstance> = app
            .crashes
            .iter()
            .map(|(instance, c)| CrashedInstance {
                instance: instance.clone(),
                since: c.crash_timestamp,
            })
            .collect();
        instances.sort_by_key(|c| c.since);
        Some(HmCrashedReply { instances })
    }

    /// One reply per known droplet asked about: `{droplet, version, healthy}` with `healthy`
    /// the number of RUNNING indices of that version.
    pub fn health(&self, request: &HmHealthRequest) -> Vec<HmHealthReply> {
        request
            .droplets
            .iter()
            .filter_map(|query| {
                let app = self.apps.get(&query.droplet)?;
                let healthy = app
                    .versions
                    .get(&query.version)
                    .into_iter()
                    .flatten()
                    .filter(|(_, e)| e.state == Some(InstanceState::Running))
                    .count();
                Some(HmHealthReply {
                    droplet: query.droplet,
                    version: query.version.clone(),
                    healthy: healthy as u32,
                })
            })
            .collect()
    }

    /// The `/varz` counts.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            apps: self.apps.len(),
            ..Counts::default()
        };
        for app in self.apps.values() {
            if app.desired.state == super::DesiredState::Started {
                counts.instances += u64::from(app.desired.instances);
            }
            counts.crashed += app.crashes.len() as u64;
            for entry in app.versions.values().flat_map(|i| i.values()) {
                match entry.state {
                    Some(s) if s.is_running() => counts.running += 1,
                    Some(InstanceState::Down) => counts.down += 1,
                    Some(InstanceState::Flapping) => counts.flapping += 1,
                    _ => {}
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use cfsim_messages::{ExitReason::Crashed, HmHealthQuery};
    use InstanceState::{Running, Starting};

    fn status(droplet: u64, version: Option<&str>, state: InstanceState) -> HmStatusRequest {
        HmStatusRequest {
            droplet,
            version: version.map(str::to_owned),
            state,
        }
    }

    #[test]
    fn flapping_status_lists_flapping_indices_of_the_version() {
        let mut d = droplets(2);
        d.exited(&exit(V1, 1, "i1", Crashed), NOW);
        d.exited(&exit(V1, 1, "i1", Crashed), NOW + 1.0);
        let reply = d.status(&status(1, Some(V1), InstanceState::Flapping));
        let expected = HmFlappingReply {
            indices: vec![FlappingIndex {
                index: 1,
                since: NOW as u64 + 1,
            }],
        };
        assert_eq!(reply, Some(HmStatusReply::Flapping(expected)));
        let other = d.status(&status(1, Some(V0), InstanceState::Flapping));
        let empty = HmFlappingReply { indices: vec![] };
        assert_eq!(other, Some(HmStatusReply::Flapping(empty)));
    }

    #[test]
    fn crashed_status_lists_recent_crashes() {
        let mut d = droplets(1);
        d.exited(&exit(V1, 0, "b", Crashed), NOW);
        let mut second = exit(V1, 0, "a", Crashed);
        second.crash_timestamp = Some(NOW as u64 - 5);
        d.exited(&second, NOW);
        let Some(HmStatusReply::Crashed(reply)) =
            d.status(&status(1, None, InstanceState::Crashed))
        else {
            panic!("crashed reply");
        };
        let ids: Vec<(&str, u64)> = reply
            .instances
            .iter()
            .map(|c| (c.instance.as_str(), c.since))
            .collect();
        assert_eq!(ids, vec![("a", NOW as u64 - 5), ("b", NOW as u64)]);
    }

    #[test]
    fn unknown_apps_and_other_states_get_no_status_reply() {
        let d = droplets(1);
        assert_eq!(d.status(&status(9, None, InstanceState::Crashed)), None);
        assert_eq!(d.status(&status(1, None, InstanceState::Running)), None);
        assert_eq!(d.status(&status(1, None, InstanceState::Flapping)), None);
    }

    #[test]
    fn health_counts_running_indices_of_known_droplets() {
        let mut d = droplets(3);
        let hb = heartbeat(vec![
            entry(V1, 0, "a", Running),
            entry(V1, 1, "b", Running),
            entry(V1, 2, "c", Starting),
        ]);
        d.heartbeat(&hb, NOW);
        let request = HmHealthRequest {
            droplets: vec![
                HmHealthQuery {
                    droplet: 1,
                    version: V1.into(),
                },
                HmHealthQuery {
                    droplet: 1,
                    version: V0.into(),
                },
                HmHealthQuery {
                    droplet: 9,
                    version: V1.into(),
                },
            ],
        };
        let healthy: Vec<(u64, String, u32)> = d
            .health(&request)
            .into_iter()
            .map(|r| (r.droplet, r.version, r.healthy))
            .collect();
        let expected = vec![(1, V1.to_owned(), 2), (1, V0.to_owned(), 0)];
        assert_eq!(healthy, expected, "no reply for droplet 9");
    }

    #[test]
    fn counts_cover_states_and_crashes() {
        let mut d = droplets(3);
        d.heartbeat(&heartbeat(vec![entry(V1, 0, "a", Running)]), NOW);
        d.exited(&exit(V1, 1, "b", Crashed), NOW);
        d.exited(&exit(V1, 1, "b", Crashed), NOW);
        d.exited(&exit(V1, 2, "c", Crashed), NOW);
        let counts = d.counts();
        assert_eq!(
            counts,
            Counts {
                apps: 1,
                instances: 3,
                running: 1,
                down: 1,
                flapping: 1,
                crashed: 2,
            }
        );
    }
}
