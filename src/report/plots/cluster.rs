//! The cluster chart of a run with several services (`cluster.png` / `cluster.svg`): above, the ready pods
//! stacked by service (the seven services with the most pod-time, then "other"), from `services.csv`;
//! below, the nodes of each pool over time, from `cluster.csv`. Shares fonts, palette, header and mesh
//! style with the run charts.

use super::*;
use std::collections::BTreeMap;

/// Services drawn on their own; the rest are stacked as "other".
const NAMED: usize = 7;

/// What [`write_cluster_plot`] draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterChart {
    pub title: String,
    /// Stacked bands, bottom first: a label and `(time_s, pods)` points on a shared time grid.
    pub stacks: Vec<(String, Vec<(f64, f64)>)>,
    /// Nodes per pool: a label and `(time_s, nodes)` points.
    pub pools: Vec<(String, Vec<(f64, f64)>)>,
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<csv::StringRecord>), ReportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| ReportError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let headers = reader
        .headers()
        .map_err(|e| ReportError::Plot {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReportError::Plot {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok((headers, rows))
}

/// Reads `services.csv` and `cluster.csv` of `run_dir` into a chart.
pub fn cluster_chart(run_dir: &Path, title: &str) -> Result<ClusterChart, ReportError> {
    let (headers, rows) = read_csv(&run_dir.join("services.csv"))?;
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(svc), Some(time), Some(ready)) = (col("service"), col("time_s"), col("ready_pods"))
    else {
        return Err(ReportError::Plot {
            path: run_dir.join("services.csv"),
            message: "needs service, time_s and ready_pods columns".into(),
        });
    };
    let num = |r: &csv::StringRecord, i: usize| r.get(i).and_then(|v| v.parse::<f64>().ok());
    // Pods per service per time, and each service's pod-time for the ranking.
    let mut times: Vec<f64> = Vec::new();
    let mut by_service: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut weight: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let (Some(t), Some(p)) = (num(r, time), num(r, ready)) else {
            continue;
        };
        let name = r.get(svc).unwrap_or("").to_string();
        if times.last() != Some(&t) && !times.contains(&t) {
            times.push(t);
        }
        *weight.entry(name.clone()).or_insert(0.0) += p;
        by_service.entry(name).or_default().insert(t as u64, p);
    }
    times.sort_by(f64::total_cmp);
    let mut ranked: Vec<(String, f64)> = weight.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut stacks = Vec::new();
    let mut other = vec![0.0; times.len()];
    for (k, (name, _)) in ranked.iter().enumerate() {
        let series = &by_service[name];
        let values: Vec<f64> = times
            .iter()
            .map(|t| series.get(&(*t as u64)).copied().unwrap_or(0.0))
            .collect();
        if k < NAMED {
            stacks.push((name.clone(), times.iter().copied().zip(values).collect()));
        } else {
            for (o, v) in other.iter_mut().zip(values) {
                *o += v;
            }
        }
    }
    if ranked.len() > NAMED {
        stacks.push((
            format!("{} other services", ranked.len() - NAMED),
            times.iter().copied().zip(other).collect(),
        ));
    }
    let (headers, rows) = read_csv(&run_dir.join("cluster.csv"))?;
    let mut pools = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(pool) = h.strip_prefix("nodes_") {
            let points = rows
                .iter()
                .filter_map(|r| Some((num(r, 0)?, num(r, i)?)))
                .collect();
            pools.push((pool.to_string(), points));
        }
    }
    Ok(ClusterChart {
        title: title.to_string(),
        stacks,
        pools,
    })
}

/// Writes `cluster.png` and `cluster.svg` into `run_dir` from its `services.csv` and `cluster.csv`.
pub fn write_cluster_plot(run_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    // The scenario's name from the summary (the folder may be a staging folder).
    let name = std::fs::read_to_string(run_dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("scenario")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "run".into());
    let chart = cluster_chart(run_dir, &format!("{name}: pods by service, nodes by pool"))?;
    write_charts(&[Chart::Cluster(&chart)], run_dir)
}

pub(super) fn draw_cluster<DB: DrawingBackend>(
    data: &ClusterChart,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let subtitle = "above: ready pods stacked by service; below: nodes per pool";
    let (body, legend_area) = draw_header_with_legend(root, &data.title, subtitle)?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1 * 3 / 5);
    let x_max = data
        .stacks
        .iter()
        .chain(&data.pools)
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0, f64::max);
    let n = data.stacks.first().map_or(0, |s| s.1.len());
    let mut cumulative = vec![0.0; n];
    let mut layers = Vec::new();
    for (label, points) in &data.stacks {
        let lower = cumulative.clone();
        for (c, (_, v)) in cumulative.iter_mut().zip(points) {
            *c += v;
        }
        layers.push((label, points, lower, cumulative.clone()));
    }
    let y_max = padded_max(cumulative.iter().copied().fold(0.0, f64::max));
    let mut chart = build_time_chart(&top, 0.0..x_max, 0.0..y_max, "", "ready pods", 6)?;
    let mut legend = Legend::default();
    for (k, (label, points, lower, upper)) in layers.iter().enumerate() {
        let colour = if k < PALETTE.len() { PALETTE[k] } else { GREY };
        let mut polygon: Vec<(f64, f64)> = points
            .iter()
            .zip(upper.iter())
            .map(|((t, _), u)| (*t, *u))
            .collect();
        polygon.extend(
            points
                .iter()
                .zip(lower.iter())
                .rev()
                .map(|((t, _), l)| (*t, *l)),
        );
        chart.draw_series(std::iter::once(Polygon::new(
            polygon,
            colour.mix(0.75).filled(),
        )))?;
        legend.push(label, Glyph::Band(colour));
    }
    let node_max = padded_max(
        data.pools
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.1))
            .fold(0.0, f64::max),
    );
    let mut nodes = build_time_chart(&bottom, 0.0..x_max, 0.0..node_max, "time (s)", "nodes", 4)?;
    for (k, (pool, points)) in data.pools.iter().enumerate() {
        let colour = PALETTE[(k + 3) % PALETTE.len()];
        nodes.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
        legend.push(
            &format!("nodes: {pool}"),
            Glyph::Line(Stroke::solid(colour, 2)),
        );
    }
    draw_legend(&legend_area, &legend)?;
    Ok(())
}
