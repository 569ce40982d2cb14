//! Where a learning curve is heading. Successive halving that ranks trials by the loss they
//! have at a rung stops the ones that learn slowly (a small learning rate) though they end
//! best; ranking by the loss the curve is heading for keeps them. The model is the power law
//! `a + b·t^(−c)` ("pow3", the first of Domhan et al. 2015's learning-curve families), fitted by
//! least squares to the curve's last two thirds and read at the horizon. A loss cannot fall
//! below 0, so neither may the fit's asymptote `a`: unconstrained, five epochs of a fast fall
//! fit an asymptote below zero, and every slow learner headed for 0 ranked first, ties broken
//! by trial number.

/// The exponents tried, 0.1 to 3.0 by 0.1: enough to follow a curve that flattens at once or
/// one that is still falling; an exponent's fit is closed-form, so a grid is cheap and exact.
const EXPONENTS: std::ops::RangeInclusive<u32> = 1..=30;

/// The loss `curve` (epoch 1, 2, … so far) is heading for at epoch `horizon`: the fitted power
/// law there, never below 0 and never above where the curve stands now. A curve that is not
/// falling over the window (or too short to fit, or not finite) is charged where it stands.
pub fn heading(curve: &[f64], horizon: u64) -> f64 {
    let Some(&now) = curve.last() else {
        return f64::INFINITY;
    };
    // The window: epochs ⌊r/3⌋ (at least 1) to r, past the first epochs' fall.
    let from = (curve.len() / 3).max(1);
    let points: Vec<(f64, f64)> = (from..=curve.len())
        .map(|epoch| (epoch as f64, curve[epoch - 1]))
        .collect();
    if points.len() < 3 || !points.iter().all(|p| p.1.is_finite()) {
        return now;
    }
    let best = EXPONENTS
        .map(|tenths| f64::from(tenths) / 10.0)
        .filter_map(|c| fit(&points, c).map(|f| (f, c)))
        .min_by(|a, b| a.0.sse.total_cmp(&b.0.sse));
    match best {
        Some((f, c)) if f.b > 0.0 => (f.a + f.b * (horizon as f64).powf(-c)).clamp(0.0, now),
        _ => now,
    }
}

/// A least-squares line `y = a + b·x` through the points with `x = t^(−c)` and `a ≥ 0`, and its
/// squared error. Where the free line's intercept is negative the constrained optimum is on
/// `a = 0`, the line through the origin.
struct Fit {
    a: f64,
    b: f64,
    sse: f64,
}

fn fit(points: &[(f64, f64)], c: f64) -> Option<Fit> {
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| p.0.powf(-c)).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, (_, y)) in xs.iter().zip(points) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    if sxx <= 0.0 {
        return None;
    }
    let (mut a, mut b) = (my - sxy / sxx * mx, sxy / sxx);
    if a < 0.0 {
        a = 0.0;
        b = (xs.iter().zip(points))
            .map(|(x, (_, y))| x * y)
            .sum::<f64>()
            / xs.iter().map(|x| x * x).sum::<f64>();
    }
    let sse = (xs.iter().zip(points))
        .map(|(x, (_, y))| (a + b * x - y).powi(2))
        .sum();
    Some(Fit { a, b, sse })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_law_is_read_at_its_horizon() {
        // 0.05 + 0.5/√t, exactly: the fit finds c = 0.5 and reads 0.05 + 0.5/√45 at 45.
        let curve: Vec<f64> = (1..=15).map(|t| 0.05 + 0.5 / f64::from(t).sqrt()).collect();
        let want = 0.05 + 0.5 / 45f64.sqrt();
        assert!(
            (heading(&curve, 45) - want).abs() < 1e-12,
            "{}",
            heading(&curve, 45)
        );
    }

    #[test]
    fn a_slow_learner_is_ranked_by_where_it_is_heading() {
        // A fast learner already flat at 0.10 and a slow one at 0.20 still falling as 1/t:
        // at epoch 45 the slow one is ahead, and so is its heading.
        let fast: Vec<f64> = (1..=5).map(|t| 0.10 + 0.001 / f64::from(t)).collect();
        let slow: Vec<f64> = (1..=5).map(|t| 0.02 + 0.9 / f64::from(t)).collect();
        assert!(slow[4] > fast[4]);
        assert!(heading(&slow, 45) < heading(&fast, 45));
        assert!((heading(&slow, 45) - (0.02 + 0.9 / 45.0)).abs() < 1e-9);
    }

    #[test]
    fn the_asymptote_is_never_below_zero() {
        // Five epochs of a fast fall, 0.4 + 2·e^(−t/2): the free fit's asymptote is below zero
        // and it headed for 0 at epoch 45 (clamped there); bounded at 0 it heads for 0.165.
        let curve: Vec<f64> = (1..=5)
            .map(|t| 0.4 + 2.0 * (-0.5 * f64::from(t)).exp())
            .collect();
        let h = heading(&curve, 45);
        assert!((h - 0.165363).abs() < 1e-5, "{h}");
        // The fit itself: y = t^(−1) − 0.1 at t = 1, 2, 4 has its free intercept at −0.1; on
        // a = 0 the least-squares slope is Σxy / Σx² over x = 1, 1/2, 1/4.
        let points = [(1.0, 0.9), (2.0, 0.4), (4.0, 0.15)];
        let f = fit(&points, 1.0).unwrap();
        let want = (0.9 + 0.5 * 0.4 + 0.25 * 0.15) / (1.0 + 0.25 + 0.0625);
        assert_eq!(f.a, 0.0);
        assert!((f.b - want).abs() < 1e-12, "{} against {want}", f.b);
    }

    #[test]
    fn a_rising_short_or_broken_curve_is_charged_where_it_stands() {
        let rising = [0.5, 0.4, 0.3, 0.35, 0.4, 0.45];
        assert_eq!(heading(&rising, 45), 0.45);
        assert_eq!(heading(&[0.7, 0.6], 45), 0.6);
        assert_eq!(heading(&[0.7, f64::NAN, 0.5, 0.4], 45), 0.4);
        assert_eq!(heading(&[], 45), f64::INFINITY);
        // Never below zero, however steep the fall.
        let steep: Vec<f64> = (1..=5).map(|t| 2.0 - 0.4 * f64::from(t)).collect();
        assert!(heading(&steep, 45) >= 0.0);
    }
}
