//! A figure as data: what `?format=json` returns and what the renderers draw.

use serde::Serialize;

/// One picture: a title, a subtitle (what it is of), and the plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub title: String,
    pub subtitle: String,
    #[serde(flatten)]
    pub plot: Plot,
}

/// What is drawn, tagged `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plot {
    /// Lines of (x, y) points over two axes.
    Lines(LinePlot),
    /// One bar per entry, with an error bar (mean ± std).
    Bars(BarPlot),
    /// A class × class matrix (a confusion matrix): counts and row shares.
    Matrix(MatrixPlot),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinePlot {
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Vertical lines at an x (where a problem starts).
    pub markers: Vec<Marker>,
    /// Single points drawn as dots (each run's best epoch), named once in the legend.
    pub dots: Vec<Dot>,
}

/// A point to draw as a dot, in a series' colour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    pub colour: usize,
    /// Its legend entry (the first dot of each name is listed).
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    pub label: String,
    /// A log-10 scale (non-positive values are left out).
    pub log: bool,
    /// The range to show; `None`: the data's.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: &str) -> Self {
        Self {
            label: label.into(),
            log: false,
            range: None,
        }
    }

    pub fn log(label: &str) -> Self {
        Self {
            log: true,
            ..Self::linear(label)
        }
    }

    pub fn unit(label: &str) -> Self {
        Self {
            range: Some((0.0, 1.0)),
            ..Self::linear(label)
        }
    }
}

/// One line: its legend entry (none when empty), colour (an index into `plots::COLOURS`),
/// stroke and points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub colour: usize,
    pub stroke: Stroke,
    /// `[x, y]` pairs in drawing order.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
    /// Thin and light: one of many runs, behind the line that sums them up.
    Faint,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarPlot {
    pub y: Axis,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Half the error bar (a standard deviation).
    pub error: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixPlot {
    /// Row and column labels (true class down, predicted class across).
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
    /// Each row's counts over the row's total (0 for an empty row).
    pub normalized: Vec<Vec<f64>>,
}

impl MatrixPlot {
    pub fn of(labels: Vec<String>, counts: Vec<Vec<u64>>) -> Self {
        let normalized = counts
            .iter()
            .map(|row| {
                let total: u64 = row.iter().sum();
                row.iter()
                    .map(|&c| {
                        if total > 0 {
                            c as f64 / total as f64
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            labels,
            counts,
            normalized,
        }
    }
}
