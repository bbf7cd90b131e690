//! Maximum-likelihood fits of a service-time distribution to binned data (histogram buckets), and of a
//! lognormal to exact samples (cold starts), with goodness-of-fit figures.
//!
//! Binned likelihood: with bins `(lo, hi]` holding `n` observations, `log L = sum n ln(F(hi) - F(lo))`.
//! It is maximised by Nelder-Mead over unconstrained parameters (`ln` of positive ones); the exponential
//! has one parameter and the same search is used with a fixed dummy coordinate. Quality: the KS distance at
//! the bin edges (the largest gap between the empirical and fitted CDF where both are known) and Pearson's
//! chi-square over bins with an expected count of at least 1 (sparse tail bins are merged into it).
//! Candidates are ranked by AIC = 2k - 2 log L. Times are seconds.

use statrs::distribution::{ContinuousCDF, Exp, Gamma, LogNormal};

/// A fitted distribution, in the scenario's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fitted {
    Exponential { mean_s: f64 },
    LogNormal { median_s: f64, sigma: f64 },
    Gamma { shape: f64, mean_s: f64 },
}

impl Fitted {
    pub fn name(&self) -> &'static str {
        match self {
            Fitted::Exponential { .. } => "exponential",
            Fitted::LogNormal { .. } => "lognormal",
            Fitted::Gamma { .. } => "gamma",
        }
    }

    fn params(&self) -> usize {
        match self {
            Fitted::Exponential { .. } => 1,
            _ => 2,
        }
    }

    /// CDF at `x` seconds (`x = +inf` gives 1).
    pub fn cdf(&self, x: f64) -> f64 {
        if x.is_infinite() {
            return 1.0;
        }
        if x <= 0.0 {
            return 0.0;
        }
        match *self {
            Fitted::Exponential { mean_s } => Exp::new(1.0 / mean_s).map_or(f64::NAN, |d| d.cdf(x)),
            Fitted::LogNormal { median_s, sigma } => {
                LogNormal::new(median_s.ln(), sigma).map_or(f64::NAN, |d| d.cdf(x))
            }
            Fitted::Gamma { shape, mean_s } => {
                Gamma::new(shape, shape / mean_s).map_or(f64::NAN, |d| d.cdf(x))
            }
        }
    }

    /// The scenario YAML flow map, e.g. `{dist: lognormal, median: 23.1ms, sigma: 0.41}`.
    pub fn yaml(&self) -> String {
        match *self {
            Fitted::Exponential { mean_s } => {
                format!("{{dist: exponential, mean: {}}}", duration(mean_s))
            }
            Fitted::LogNormal { median_s, sigma } => {
                format!(
                    "{{dist: lognormal, median: {}, sigma: {sigma:.4}}}",
                    duration(median_s)
                )
            }
            Fitted::Gamma { shape, mean_s } => {
                format!(
                    "{{dist: gamma, shape: {shape:.4}, mean: {}}}",
                    duration(mean_s)
                )
            }
        }
    }
}

/// Seconds as a duration string the scenario parser reads, at microsecond precision.
pub fn duration(seconds: f64) -> String {
    format!("{:.3}ms", seconds * 1000.0)
}

/// A fit and its quality.
#[derive(Clone, Copy, Debug)]
pub struct Fit {
    pub dist: Fitted,
    pub log_likelihood: f64,
    pub aic: f64,
    pub ks: f64,
    pub chi_square: f64,
    pub chi_square_df: usize,
}

/// Bins `(lo, hi, count)` with `lo < hi` (the last `hi` may be infinite), in increasing order.
pub type Bins = [(f64, f64, f64)];

fn log_likelihood(dist: &Fitted, bins: &Bins) -> f64 {
    let mut ll = 0.0;
    for &(lo, hi, n) in bins {
        if n <= 0.0 {
            continue;
        }
        let p = dist.cdf(hi) - dist.cdf(lo);
        if p.is_nan() || p <= 0.0 {
            return f64::NEG_INFINITY;
        }
        ll += n * p.ln();
    }
    ll
}

/// Nelder-Mead minimisation of `f` from `start` (2-D), a fixed number of iterations: deterministic.
fn nelder_mead(f: impl Fn([f64; 2]) -> f64, start: [f64; 2], scale: f64) -> [f64; 2] {
    let mut simplex = [
        start,
        [start[0] + scale, start[1]],
        [start[0], start[1] + scale],
    ];
    let mut values = simplex.map(&f);
    for _ in 0..400 {
        let mut order = [0, 1, 2];
        order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
        simplex = order.map(|i| simplex[i]);
        values = order.map(|i| values[i]);
        let centroid = [
            (simplex[0][0] + simplex[1][0]) / 2.0,
            (simplex[0][1] + simplex[1][1]) / 2.0,
        ];
        let along = |t: f64| {
            [
                centroid[0] + t * (simplex[2][0] - centroid[0]),
                centroid[1] + t * (simplex[2][1] - centroid[1]),
            ]
        };
        let reflected = along(-1.0);
        let fr = f(reflected);
        if fr < values[0] {
            let expanded = along(-2.0);
            let fe = f(expanded);
            (simplex[2], values[2]) = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < values[1] {
            (simplex[2], values[2]) = (reflected, fr);
        } else {
            let contracted = along(0.5);
            let fc = f(contracted);
            if fc < values[2] {
                (simplex[2], values[2]) = (contracted, fc);
            } else {
                for i in 1..3 {
                    simplex[i] = [
                        (simplex[0][0] + simplex[i][0]) / 2.0,
                        (simplex[0][1] + simplex[i][1]) / 2.0,
                    ];
                    values[i] = f(simplex[i]);
                }
            }
        }
    }
    let best = (0..3)
        .min_by(|a, b| values[*a].total_cmp(&values[*b]))
        .unwrap_or(0);
    simplex[best]
}

fn quality(dist: Fitted, bins: &Bins) -> Fit {
    let total: f64 = bins.iter().map(|b| b.2).sum();
    let log_likelihood = log_likelihood(&dist, bins);
    let mut cumulative = 0.0;
    let mut ks: f64 = 0.0;
    for &(_, hi, n) in bins {
        cumulative += n;
        if hi.is_finite() {
            ks = ks.max((cumulative / total - dist.cdf(hi)).abs());
        }
    }
    let (mut chi, mut cells) = (0.0, 0usize);
    let (mut pending_n, mut pending_e) = (0.0, 0.0);
    for &(lo, hi, n) in bins {
        pending_n += n;
        pending_e += total * (dist.cdf(hi) - dist.cdf(lo));
        if pending_e >= 1.0 {
            chi += (pending_n - pending_e).powi(2) / pending_e;
            cells += 1;
            pending_n = 0.0;
            pending_e = 0.0;
        }
    }
    if pending_e > 0.0 {
        chi += (pending_n - pending_e).powi(2) / pending_e;
        cells += 1;
    }
    Fit {
        dist,
        log_likelihood,
        aic: 2.0 * dist.params() as f64 - 2.0 * log_likelihood,
        ks,
        chi_square: chi,
        chi_square_df: cells.saturating_sub(1 + dist.params()),
    }
}

/// Fits exponential, lognormal and gamma to `bins`; best (lowest AIC) first. `None` without data.
pub fn fit_binned(bins: &Bins) -> Option<Vec<Fit>> {
    let total: f64 = bins.iter().map(|b| b.2).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    // Start from the moments of bin midpoints (the open last bin at 1.5 x its lower edge).
    let mid = |b: &(f64, f64, f64)| {
        if b.1.is_finite() {
            (b.0 + b.1) / 2.0
        } else {
            b.0 * 1.5
        }
    };
    let mean = bins.iter().map(|b| mid(b) * b.2).sum::<f64>() / total;
    let log_mean = bins
        .iter()
        .map(|b| mid(b).max(1e-9).ln() * b.2)
        .sum::<f64>()
        / total;
    let log_var = bins
        .iter()
        .map(|b| (mid(b).max(1e-9).ln() - log_mean).powi(2) * b.2)
        .sum::<f64>()
        / total;
    let mean = mean.max(1e-6);
    let nll = |d: Fitted| {
        let ll = log_likelihood(&d, bins);
        if ll.is_finite() {
            -ll
        } else {
            f64::MAX
        }
    };
    let exp = nelder_mead(
        |p| nll(Fitted::Exponential { mean_s: p[0].exp() }) + p[1] * p[1],
        [mean.ln(), 0.0],
        0.5,
    );
    let ln = nelder_mead(
        |p| {
            nll(Fitted::LogNormal {
                median_s: p[0].exp(),
                sigma: p[1].exp(),
            })
        },
        [log_mean, log_var.sqrt().max(0.05).ln()],
        0.3,
    );
    let gamma = nelder_mead(
        |p| {
            nll(Fitted::Gamma {
                shape: p[0].exp(),
                mean_s: p[1].exp(),
            })
        },
        [0.0, mean.ln()],
        0.5,
    );
    let mut fits = vec![
        quality(
            Fitted::Exponential {
                mean_s: exp[0].exp(),
            },
            bins,
        ),
        quality(
            Fitted::LogNormal {
                median_s: ln[0].exp(),
                sigma: ln[1].exp(),
            },
            bins,
        ),
        quality(
            Fitted::Gamma {
                shape: gamma[0].exp(),
                mean_s: gamma[1].exp(),
            },
            bins,
        ),
    ];
    fits.sort_by(|a, b| a.aic.total_cmp(&b.aic));
    Some(fits)
}

/// Lognormal MLE from exact positive samples (seconds), with the KS distance to their empirical CDF.
pub fn fit_lognormal_samples(samples: &[f64]) -> Option<(Fitted, f64)> {
    let mut xs: Vec<f64> = samples
        .iter()
        .copied()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mu = xs.iter().map(|x| x.ln()).sum::<f64>() / n;
    let var = xs.iter().map(|x| (x.ln() - mu).powi(2)).sum::<f64>() / n;
    // A zero sigma (one sample, or equal samples) is kept tiny but valid for the scenario parser.
    let dist = Fitted::LogNormal {
        median_s: mu.exp(),
        sigma: var.sqrt().max(1e-3),
    };
    let ks = xs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = dist.cdf(*x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    Some((dist, ks))
}
