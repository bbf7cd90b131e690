//! The per-request log (`requests.csv`): one [`RequestRecord`] per finished request, handed to a
//! [`RequestLog`] the caller provides; [`CsvRequestLog`] writes the CSV.
//!
//! Units: `sent_s` in seconds, `latency_ms` in milliseconds (both printed exactly from integer ns). The
//! log is opt-in: memory and disk grow with the number of requests.

use crate::ids::PodId;
use crate::time::SimTime;

/// One finished request, as `requests.csv` shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestRecord {
    pub sent: SimTime,
    pub finished: SimTime,
    pub status: u16,
    /// The pod that served it (`None` if it never reached a pod).
    pub pod: Option<PodId>,
    pub via_activator: bool,
    pub waited_for_cold_start: bool,
}

/// Receives finished requests.
pub trait RequestLog {
    fn record(&mut self, request: &RequestRecord) -> std::io::Result<()>;
}

/// Writes `requests.csv`: `sent_s,latency_ms,status,pod,via_activator,cold_start`.
pub struct CsvRequestLog<W: std::io::Write> {
    out: W,
    line: String,
}

impl<W: std::io::Write> CsvRequestLog<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "sent_s,latency_ms,status,pod,via_activator,cold_start")?;
        Ok(CsvRequestLog {
            out,
            line: String::with_capacity(64),
        })
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> RequestLog for CsvRequestLog<W> {
    fn record(&mut self, r: &RequestRecord) -> std::io::Result<()> {
        // Formatted without allocation or f64 formatting (issue 15); the text is unchanged.
        self.line.clear();
        crate::observe::output::push_request_line(
            &mut self.line,
            r.sent.0,
            (r.finished - r.sent).0,
            r.status,
            r.pod.map(|p| p.slot()),
            r.via_activator,
            r.waited_for_cold_start,
        );
        self.out.write_all(self.line.as_bytes())
    }
}
