//! The per-request log (`requests.csv`): one [`RequestRecord`] per finished request, handed to a
//! [`RequestLog`] the caller provides; [`CsvRequestLog`] writes the CSV.
//!
//! Units: `sent_s` in seconds, `latency_ms` in milliseconds (both printed exactly from integer ns). The
//! log is opt-in: memory and disk grow with the number of requests.

use crate::ids::PodId;
use crate::time::{SimDuration, SimTime};

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
    /// Pods with a KV cache, successful requests with tokens: time to first token (one-way path back
    /// included) and time per output token (≥ 2 output tokens).
    pub ttft: Option<SimDuration>,
    pub tpot: Option<SimDuration>,
}

/// Receives finished requests.
pub trait RequestLog {
    fn record(&mut self, request: &RequestRecord) -> std::io::Result<()>;
}

/// Writes `requests.csv`: `sent_s,latency_ms,status,pod,via_activator,cold_start`.
pub struct CsvRequestLog<W: std::io::Write> {
    out: W,
    line: String,
    llm: bool,
}

impl<W: std::io::Write> CsvRequestLog<W> {
    pub fn new(out: W) -> std::io::Result<Self> {
        Self::with_llm_columns(out, false)
    }

    /// With `llm` (pods with a KV cache), two more columns: `ttft_ms,tpot_ms` (empty when undefined).
    pub fn with_llm_columns(mut out: W, llm: bool) -> std::io::Result<Self> {
        write!(out, "sent_s,latency_ms,status,pod,via_activator,cold_start")?;
        if llm {
            write!(out, ",ttft_ms,tpot_ms")?;
        }
        writeln!(out)?;
        Ok(CsvRequestLog {
            out,
            line: String::with_capacity(64),
            llm,
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
        if self.llm {
            self.line.pop();
            for v in [r.ttft, r.tpot] {
                self.line.push(',');
                if let Some(d) = v {
                    crate::observe::output::push_fixed(&mut self.line, d.0, 6);
                }
            }
            self.line.push('\n');
        }
        self.out.write_all(self.line.as_bytes())
    }
}
