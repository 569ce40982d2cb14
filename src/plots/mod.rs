//! The job's plots, as data and as pictures: each figure is typed data (`figure`: what
//! `?format=json` returns, for services that draw their own) rendered to SVG with `plotters`
//! (`lines`: learning curves, gradient norms, ROC, PR, reliability; `bars`: a leaderboard;
//! `matrix`: a confusion matrix). Pure: no HTTP or store.

pub mod bars;
pub mod figure;
pub mod lines;
pub mod matrix;
pub mod style;

pub use self::figure::{
    Axis, Bar, BarPlot, Dot, Figure, LinePlot, Marker, MatrixPlot, Plot, Series, Stroke,
};

impl Figure {
    /// The figure as an SVG document, with its title and a text description for screen readers.
    pub fn to_svg(&self) -> String {
        let svg = match &self.plot {
            Plot::Lines(p) => lines::render(&self.title, p),
            Plot::Bars(p) => bars::render(&self.title, p),
            Plot::Matrix(p) => matrix::render(&self.title, p),
        };
        with_description(svg, &self.title, &self.subtitle)
    }
}

/// The trimmed contents of every `<text>` element of an SVG: the words and numbers a plot
/// prints (what tests read).
pub fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

/// `svg` with `<title>` and `<desc>` as its first children (what assistive technology reads).
fn with_description(svg: String, title: &str, desc: &str) -> String {
    let Some(open_end) = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
    else {
        return svg;
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "{}<title>{}</title><desc>{}</desc>{}",
        &svg[..open_end],
        esc(title),
        esc(desc),
        &svg[open_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Figure {
        Figure {
            title: "Learning curves".into(),
            subtitle: "job_x".into(),
            plot: Plot::Lines(LinePlot {
                x: Axis::linear("epoch"),
                y: Axis::log("loss"),
                series: vec![
                    Series {
                        name: "fold 0".into(),
                        colour: 0,
                        stroke: Stroke::Solid,
                        points: (1..=20).map(|e| (e as f64, 1.0 / e as f64)).collect(),
                    },
                    Series {
                        name: String::new(),
                        colour: 0,
                        stroke: Stroke::Dashed,
                        points: vec![(1.0, 1.2), (20.0, 0.3), (21.0, f64::NAN), (22.0, -1.0)],
                    },
                ],
                markers: vec![Marker {
                    x: 12.0,
                    label: "overfitting from epoch 12".into(),
                }],
                dots: vec![Dot {
                    x: 20.0,
                    y: 0.3,
                    colour: 0,
                    name: "best epoch".into(),
                }],
            }),
        }
    }

    fn has(svg: &str, wanted: &[&str]) {
        let found = svg_texts(svg);
        for w in wanted {
            assert!(found.iter().any(|t| t == w), "{w:?} not among {found:?}");
        }
    }

    #[test]
    fn ticks_read_as_people_write_numbers() {
        let t = |v: f64| style::tick(&v);
        assert_eq!(
            [
                t(0.0),
                t(0.30000000000000004),
                t(10.0),
                t(0.125),
                t(2.5e-5),
                t(1e-7),
                t(-0.5)
            ],
            ["0", "0.3", "10", "0.125", "2.5e-5", "1e-7", "-0.5"]
        );
    }

    #[test]
    fn every_plot_has_numbered_ticks_axis_titles_a_legend_and_a_description() {
        let svg = lines().to_svg();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(svg.contains("<title>Learning curves</title><desc>job_x</desc>"));
        has(
            &svg,
            &[
                "epoch",
                "loss (log scale)",
                "fold 0",
                "best epoch",
                "overfitting from epoch 12",
                "10",
            ],
        );
        let bars = Figure {
            title: "Leaderboard".into(),
            subtitle: "balanced_accuracy".into(),
            plot: Plot::Bars(BarPlot {
                y: Axis::unit("balanced_accuracy (mean ± std over folds)"),
                bars: vec![
                    Bar {
                        label: "smote".into(),
                        value: 0.7,
                        error: Some(0.05),
                    },
                    Bar {
                        label: "none".into(),
                        value: 0.5,
                        error: None,
                    },
                ],
            }),
        }
        .to_svg();
        has(
            &bars,
            &[
                "smote",
                "none",
                "0.5",
                "variant",
                "balanced_accuracy (mean ± std over folds)",
            ],
        );
        let matrix = Figure {
            title: "Confusion".into(),
            subtitle: String::new(),
            plot: Plot::Matrix(MatrixPlot::of(
                vec!["cat".into(), "dog".into()],
                vec![vec![8, 2], vec![1, 9]],
            )),
        };
        let Plot::Matrix(m) = &matrix.plot else {
            unreachable!()
        };
        assert_eq!(m.normalized, [[0.8, 0.2], [0.1, 0.9]]);
        let svg = matrix.to_svg();
        has(
            &svg,
            &["cat", "dog", "8", "0.90", "predicted class", "true class"],
        );
    }
}
