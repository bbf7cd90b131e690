//! Closed-loop clients: each client sends one request, waits for its response, optionally thinks, and
//! sends the next. Arrivals therefore depend on completions, so this is a state machine the simulator
//! drives, not an [`ArrivalSource`](super::ArrivalSource).
//!
//! # Mapping from `hey`
//!
//! | hey flag | here | meaning |
//! | --- | --- | --- |
//! | `-c N` | `clients: N` | N concurrent workers, each with at most one request outstanding |
//! | `-z D` | `end: D` (default: the run's end) | no request is *sent* at or after `start + D`; responses still arrive |
//! | `-n M` | `requests: M` | at most M requests in total, over all clients |
//! | `-q Q` | `qps: Q` | per client: sends are at least `1/Q` s apart (hey's per-worker rate limit) |
//! | — | `think_time` | pause between a response and the next send (hey has none: 0s) |
//!
//! Differences from hey, on purpose: hey splits `-n` as `n / c` per worker and drops the remainder; here
//! the budget is shared, so exactly `min(M, what fits in the duration)` requests are sent. hey's `-q` uses a
//! Go ticker; here the next send is `max(response + think, previous send + 1/Q)`, which is the ticker
//! behaviour except that ticks are not aligned to a global grid.
//!
//! # Driving it
//!
//! 1. `initial_sends()` once at the start: the `(client, time)` of each client's first request (all at
//!    `start`, like hey starting its workers together); the request budget is reserved as they are returned.
//! 2. For every response *or failure/time-out* of a closed-loop request, call
//!    `on_response(client, now, rng)` and, if it returns `Some(t)`, schedule that client's next send at `t`
//!    (never earlier than `now`). `None`: the client is finished.
//!
//! Each client has at most one request outstanding by construction, so concurrency never exceeds
//! `clients`. Memory is O(clients). The only random draw is an exponential think time, if configured.

use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};
use rand_distr::{Distribution, Exp1};

/// Index of a closed-loop client, `0..clients`.
pub type ClientId = u32;

/// How think time varies between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkTime {
    /// Exactly `think_time` every time.
    #[default]
    Fixed,
    /// Exponentially distributed with mean `think_time`.
    Exponential,
}

/// Parameters of a group of closed-loop clients (plain data, see the module docs for the hey mapping).
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedLoopSpec {
    pub clients: u32,
    pub think_time: SimDuration,
    pub think_distribution: ThinkTime,
    /// Total request budget over all clients (`hey -n`); `None`: unlimited.
    pub total_requests: Option<u64>,
    /// Per-client rate limit in requests per second (`hey -q`); `None`: unlimited.
    pub qps_per_client: Option<f64>,
    /// When the clients start sending.
    pub start: SimTime,
    /// No send at or after this instant (`hey -z`, measured from the run start).
    pub end: SimTime,
}

#[derive(Clone, Copy, Debug)]
struct ClientState {
    last_send: SimTime,
    done: bool,
}

/// The closed-loop client state machine.
#[derive(Clone, Debug)]
pub struct ClosedLoopDriver {
    spec: ClosedLoopSpec,
    min_gap: SimDuration,
    clients: Vec<ClientState>,
    sent: u64,
}

impl ClosedLoopDriver {
    pub fn new(spec: ClosedLoopSpec) -> Self {
        let min_gap = spec
            .qps_per_client
            .filter(|q| *q > 0.0)
            .map_or(SimDuration::ZERO, |q| SimDuration::from_secs_f64(1.0 / q));
        let clients = vec![
            ClientState {
                last_send: spec.start,
                done: false
            };
            spec.clients as usize
        ];
        ClosedLoopDriver {
            spec,
            min_gap,
            clients,
            sent: 0,
        }
    }

    pub fn spec(&self) -> &ClosedLoopSpec {
        &self.spec
    }

    /// Requests handed out so far (sends scheduled, including the initial ones).
    pub fn requests_sent(&self) -> u64 {
        self.sent
    }

    fn budget_left(&self) -> bool {
        self.spec.total_requests.is_none_or(|n| self.sent < n)
    }

    /// First send of every client, in client order; clients beyond the `-n` budget never send.
    pub fn initial_sends(&mut self) -> Vec<(ClientId, SimTime)> {
        let mut sends = Vec::with_capacity(self.clients.len());
        for id in 0..self.clients.len() {
            if self.spec.start >= self.spec.end || !self.budget_left() {
                self.clients[id].done = true;
                continue;
            }
            self.sent += 1;
            self.clients[id].last_send = self.spec.start;
            sends.push((id as ClientId, self.spec.start));
        }
        sends
    }

    /// The response (or failure) to `client`'s outstanding request arrived at `now`: when it sends next,
    /// or `None` if it is finished (duration over, budget spent, or an unknown/finished client).
    pub fn on_response(
        &mut self,
        client: ClientId,
        now: SimTime,
        rng: &mut SimRng,
    ) -> Option<SimTime> {
        let id = client as usize;
        if self.clients.get(id).is_none_or(|c| c.done) {
            return None;
        }
        let think = match self.spec.think_distribution {
            ThinkTime::Fixed => self.spec.think_time,
            ThinkTime::Exponential if self.spec.think_time > SimDuration::ZERO => {
                let unit_exp: f64 = Exp1.sample(rng);
                SimDuration::from_secs_f64(unit_exp * self.spec.think_time.as_secs_f64())
            }
            ThinkTime::Exponential => SimDuration::ZERO,
        };
        let next = (now + think).max(self.clients[id].last_send + self.min_gap);
        if next >= self.spec.end || !self.budget_left() {
            self.clients[id].done = true;
            return None;
        }
        self.sent += 1;
        self.clients[id].last_send = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec(clients: u32) -> ClosedLoopSpec {
        ClosedLoopSpec {
            clients,
            think_time: SimDuration::ZERO,
            think_distribution: ThinkTime::Fixed,
            total_requests: None,
            qps_per_client: None,
            start: SimTime::ZERO,
            end: SimTime::from_secs(10),
        }
    }

    #[test]
    fn qps_limit_spaces_sends_per_client() {
        let mut driver = ClosedLoopDriver::new(ClosedLoopSpec {
            qps_per_client: Some(4.0),
            ..spec(1)
        });
        let mut rng = SimRng::seed_from_u64(1);
        assert_eq!(driver.initial_sends(), vec![(0, SimTime::ZERO)]);
        // A fast response (10 ms) waits for the 250 ms slot; a slow one (400 ms) sends immediately.
        assert_eq!(
            driver.on_response(0, SimTime::from_millis(10), &mut rng),
            Some(SimTime::from_millis(250))
        );
        assert_eq!(
            driver.on_response(0, SimTime::from_millis(650), &mut rng),
            Some(SimTime::from_millis(650))
        );
    }

    #[test]
    fn duration_ends_the_client() {
        let mut driver = ClosedLoopDriver::new(ClosedLoopSpec {
            think_time: SimDuration::from_secs(3),
            ..spec(1)
        });
        let mut rng = SimRng::seed_from_u64(1);
        driver.initial_sends();
        assert_eq!(
            driver.on_response(0, SimTime::from_secs(1), &mut rng),
            Some(SimTime::from_secs(4))
        );
        assert_eq!(driver.on_response(0, SimTime::from_secs(7), &mut rng), None);
        assert_eq!(
            driver.on_response(0, SimTime::from_secs(8), &mut rng),
            None,
            "finished clients stay finished"
        );
    }

    #[test]
    fn budget_smaller_than_clients_starts_only_that_many() {
        let mut driver = ClosedLoopDriver::new(ClosedLoopSpec {
            total_requests: Some(3),
            ..spec(5)
        });
        let ids: Vec<ClientId> = driver.initial_sends().into_iter().map(|(c, _)| c).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        assert_eq!(
            driver.on_response(0, SimTime::from_secs(1), &mut SimRng::seed_from_u64(1)),
            None
        );
    }
}
