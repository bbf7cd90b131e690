//! The tables `podscale run` prints after a run of several services: the busiest services (Knative
//! revisions and KServe components are services of their own) and the route's revisions.
//!
//! Totals are labelled by what they count: the run's external requests (what clients sent) and, when it
//! differs, the sum over services, where a request that passes a transformer and then its predictor
//! counts once at each component.

use podscale::observe::output::RunSummary;

/// The services and route tables, each with its heading, or an empty string for a single service.
pub(crate) fn services_tables(summary: &RunSummary) -> String {
    let mut out = String::new();
    if let Some(services) = &summary.services {
        out.push_str(&format!(
            "\nServices ({}; the 20 busiest):\n",
            services.count
        ));
        let table = services.table(20);
        // The table's last line sums every service's requests; replaced by labelled totals below.
        let body = table
            .trim_end_matches('\n')
            .rsplit_once('\n')
            .map_or(table.as_str(), |(head, _)| head);
        out.push_str(body);
        out.push('\n');
        let t = &services.totals;
        let cost = t.cost.map_or("-".into(), |c| format!("{c:.2}"));
        out.push_str(&format!(
            "  {:<24} {:>10} {:>8} {:>9.1} {:>9.1} {:>9} {:>6} {:>6} {:>10.2} {:>10}\n",
            "external requests",
            summary.requests.total,
            summary.requests.failed,
            summary.latency_ms.p50,
            summary.latency_ms.p99,
            "",
            t.cold_starts,
            "",
            t.pod_seconds / 3600.0,
            cost,
        ));
        if t.requests.total != summary.requests.total {
            out.push_str(&format!(
                "  {:<24} {:>10} {:>8}\n  (a request counts once at every component it passes)\n",
                "sum over components", t.requests.total, t.requests.failed,
            ));
        }
    }
    if let Some(route) = &summary.route {
        out.push_str(&format!(
            "\nRoute (rollout duration {} s, {} split changes):\n{}",
            route.rollout_duration_s,
            route.changes.len(),
            route.table()
        ));
    }
    out
}
