//! Timeouts of requests waiting in a pod's queue-proxy queue (one timer per pod queue since issue 15): a
//! single fixed pod with containerConcurrency 1, periodic arrivals faster than the pod serves, and a
//! revision timeout short enough that queued requests expire. The counts of 200, 504 and 503 must equal
//! those of a reference FIFO server written here, which keeps a timeout per request.
//!
//! The pod uses processor sharing (at one request at a time, a plain server at full speed): with fixed
//! slots a running request is cut at its deadline, which with FIFO order always comes before the deadline
//! of every request queued behind it, so nothing would ever time out in the queue.

mod common;

use common::run_text;
use std::collections::VecDeque;

const NS: u64 = 1_000_000_000;
const PERIOD: u64 = NS;
const SERVICE: u64 = 1_317_000_000;
const TIMEOUT: u64 = 4_050_000_000;
/// The queue-proxy's queue: 10 x containerConcurrency.
const QUEUE_LIMIT: usize = 10;

const SCENARIO: &str = "
name: pod-queue-timeout
duration: 40s
cooldown: 60s
seed: 1
service: {containerConcurrency: 1, timeout: 4050ms}
autoscaler: {class: fixed, replicas: 1}
pod:
  service_time: 1317ms
  service: {model: processor_sharing}
  resources: {requests: {cpu: \"1\", memory: 1Gi}, limits: {cpu: \"1\", memory: 1Gi}}
  usage: {cpu_idle: 0m, cpu_per_request: \"1\"}
request_path: {client: 0s, ingress: 0s, network: 0s}
traffic: {kind: constant, rate: 1}
";

#[derive(Debug, Default, PartialEq)]
struct Counts {
    ok: u64,
    timed_out: u64,
    rejected: u64,
}

/// One server, FIFO queue, every request timing out at arrival + TIMEOUT: in the queue it leaves with 504
/// at its deadline; a request served past it is answered 504 when its service ends. The constants avoid
/// exact ties between completions, deadlines and arrivals, so no tie rule matters. Returns the counts and
/// how many of the 504s left the queue (rather than finishing late).
fn reference(arrivals: u64) -> (Counts, u64) {
    let mut c = Counts::default();
    let mut from_queue = 0;
    let mut busy_until: Option<u64> = None;
    let mut queue: VecDeque<u64> = VecDeque::new();
    let start = |t: u64, deadline: u64, c: &mut Counts| {
        if t + SERVICE > deadline {
            c.timed_out += 1;
        } else {
            c.ok += 1;
        }
        Some(t + SERVICE)
    };
    let mut advance = |until: u64,
                       c: &mut Counts,
                       busy_until: &mut Option<u64>,
                       queue: &mut VecDeque<u64>| loop {
        let done = busy_until.unwrap_or(u64::MAX);
        let due = queue.front().copied().unwrap_or(u64::MAX);
        if done.min(due) >= until {
            return;
        }
        if due < done {
            queue.pop_front();
            c.timed_out += 1;
            from_queue += 1;
        } else {
            *busy_until = queue.pop_front().and_then(|d| start(done, d, c));
        }
    };
    for k in 0..arrivals {
        let a = k * PERIOD;
        advance(a, &mut c, &mut busy_until, &mut queue);
        if busy_until.is_none() {
            busy_until = start(a, a + TIMEOUT, &mut c);
        } else if queue.len() < QUEUE_LIMIT {
            queue.push_back(a + TIMEOUT);
        } else {
            c.rejected += 1;
        }
    }
    advance(u64::MAX, &mut c, &mut busy_until, &mut queue);
    (c, from_queue)
}

#[test]
fn queued_requests_time_out_at_their_deadline_as_a_per_request_timer_would() {
    let (s, _) = run_text("pod-queue-timeout", SCENARIO);
    assert_eq!(s.requests.in_flight_at_end, 0, "{:?}", s.requests);
    let (want, from_queue) = reference(s.requests.total);
    // The scenario must exercise timeouts in the queue, not only late answers.
    assert!(
        from_queue >= 5 && want.ok >= 5,
        "{want:?}, {from_queue} from the queue"
    );
    let got = Counts {
        ok: s.requests.completed,
        timed_out: s.requests.timed_out,
        rejected: s.requests.rejected,
    };
    assert_eq!(got, want, "{:?}", s.requests);
    assert_eq!(
        s.status_codes.get("504").copied().unwrap_or(0),
        s.requests.timed_out
    );
    // A request leaves the queue at its deadline, so none waits there longer than the timeout and none
    // takes longer than the timeout plus one service.
    assert!(
        s.latency_ms.max <= (TIMEOUT + SERVICE) as f64 / 1e6 + 1.0,
        "{}",
        s.latency_ms.max
    );
}
