//! A line chart as plain SVG: lines (solid or dashed), a linear or log-10 y axis, and
//! vertical markers with labels. Written by hand: a few polylines need no plotting crate.

const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
const W: f64 = 640.0;
const H: f64 = 400.0;
const PAD: f64 = 48.0;

/// One line: its legend name, colour index, dash, and (x, y) points.
pub struct Line {
    pub name: String,
    pub colour: usize,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A vertical line at `x` with a label (where overfitting starts, say).
pub struct Marker {
    pub x: f64,
    pub label: String,
}

pub struct Chart<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// A log-10 y axis (non-positive values are left out).
    pub log_y: bool,
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
    /// The x axis's range; `None`: epochs, from 1 to the largest x.
    pub x_range: Option<(f64, f64)>,
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Chart<'_> {
    pub fn render(&self) -> String {
        let y_of = |y: f64| {
            if self.log_y {
                (y > 0.0 && y.is_finite()).then(|| y.log10())
            } else {
                y.is_finite().then_some(y)
            }
        };
        let pts = || {
            self.lines
                .iter()
                .flat_map(|l| l.points.iter())
                .filter_map(|&(x, y)| Some((x, y_of(y)?)))
        };
        let max_x = pts().map(|p| p.0).fold(1.0f64, f64::max);
        let (mut lo, mut hi) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
        if !self.log_y {
            lo = lo.min(0.0);
        }
        if !(lo.is_finite() && hi.is_finite()) {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            hi = lo + 1.0;
        }
        let hi = hi + (hi - lo) * 0.05;
        let (min_x, max_x) = self.x_range.unwrap_or((1.0, max_x));
        let span = if self.x_range.is_some() {
            (max_x - min_x).max(f64::MIN_POSITIVE)
        } else {
            (max_x - min_x).max(1.0)
        };
        let sx = |x: f64| PAD + (x - min_x) / span * (W - 2.0 * PAD);
        let sy = |y: f64| H - PAD - (y - lo) / (hi - lo) * (H - 2.0 * PAD);
        let range = if self.log_y {
            format!("1e{:.0} to 1e{:.0}, log scale", lo.floor(), hi.ceil())
        } else {
            format!("{lo:.3} to {hi:.3}")
        };
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{PAD}\" y=\"18\" font-size=\"13\">{title}</text>\n\
             <text x=\"{PAD}\" y=\"34\" fill=\"#555\">{subtitle}</text>\n\
             <line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"black\"/>\n\
             <text x=\"{cx}\" y=\"{lx}\" text-anchor=\"middle\">{x_label} ({min_x} to {max_x})</text>\n\
             <text x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\" text-anchor=\"middle\">{y_label} ({range})</text>\n",
            title = esc(self.title),
            subtitle = esc(self.subtitle),
            x_label = esc(self.x_label),
            y_label = esc(self.y_label),
            b = H - PAD,
            r = W - PAD,
            cx = W / 2.0,
            lx = H - 12.0,
            cy = H / 2.0,
        );
        if self.log_y {
            for decade in (lo.ceil() as i64)..=(hi.floor() as i64) {
                let y = sy(decade as f64);
                svg.push_str(&format!(
                    "<line x1=\"{PAD}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">1e{decade}</text>\n",
                    W - PAD,
                    PAD - 4.0,
                    y + 4.0
                ));
            }
        }
        for m in &self.markers {
            let x = sx(m.x);
            svg.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"{PAD}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#d62728\" stroke-dasharray=\"2 2\"/><text x=\"{:.1}\" y=\"{}\" fill=\"#d62728\">{}</text>\n",
                H - PAD,
                x + 3.0,
                PAD + 10.0,
                esc(&m.label)
            ));
        }
        let mut legend = 0;
        for line in &self.lines {
            let colour = COLOURS[line.colour % COLOURS.len()];
            let points: Vec<String> = line
                .points
                .iter()
                .filter_map(|&(x, y)| Some(format!("{:.1},{:.1}", sx(x), sy(y_of(y)?))))
                .collect();
            if points.is_empty() {
                continue;
            }
            let dash = if line.dashed {
                " stroke-dasharray=\"5 3\""
            } else {
                ""
            };
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>\n",
                points.join(" ")
            ));
            if !line.name.is_empty() {
                svg.push_str(&format!(
                    "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>\n",
                    W - PAD - 90.0,
                    PAD + 14.0 * legend as f64,
                    esc(&line.name)
                ));
                legend += 1;
            }
        }
        svg.push_str("</svg>\n");
        svg
    }
}
