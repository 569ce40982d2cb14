//! Line plots on plotters: numbered ticks on both axes with a light grid, axis titles, a
//! legend, solid or dashed lines, an optional log-10 y axis, and vertical dashed markers
//! (named in the legend).

use std::ops::Range;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::figure::{LinePlot, Stroke};
use super::style::{colour, house_mesh, legend, tick};

/// Most legend entries drawn inside the chart; more go in a panel beside it, covering nothing.
const LEGEND_INSIDE: usize = 4;
/// The panel's width, in pixels.
const PANEL: u32 = 220;

/// The SVG of `plot` under `title`.
pub fn render(title: &str, plot: &LinePlot) -> String {
    let (x, y) = ranges(plot);
    let beside = entries(plot) > LEGEND_INSIDE;
    let (width, height) = super::style::SIZE;
    let size = if beside {
        (width + PANEL, height)
    } else {
        (width, height)
    };
    super::style::svg_of_size(size, |root| {
        let (area, panel) = if beside {
            let (a, p) = root.split_horizontally(width);
            (a, Some(p))
        } else {
            (root.clone(), None)
        };
        root.fill(&WHITE)?;
        if let Some(panel) = &panel {
            draw_panel(panel, plot)?;
        }
        if plot.y.log {
            draw(&area, title, plot, x, y.clone().log_scale(), y, !beside)
        } else {
            draw(&area, title, plot, x, y.clone(), y, !beside)
        }
    })
}

/// The dots' names, each once, in order.
fn dot_names(plot: &LinePlot) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for d in plot.dots.iter().filter(|d| !d.name.is_empty()) {
        if !names.contains(&d.name.as_str()) {
            names.push(&d.name);
        }
    }
    names
}

/// The legend's entries: named series, each dot name once, markers.
fn entries(plot: &LinePlot) -> usize {
    let named = plot.series.iter().filter(|s| !s.name.is_empty()).count();
    named + dot_names(plot).len() + plot.markers.len()
}

/// The legend as a panel: each named series' swatch and name, a row each.
fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, plotters::coord::Shift>,
    plot: &LinePlot,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y_of = |row: usize| 40 + 18 * row as i32;
    let named: Vec<_> = plot.series.iter().filter(|s| !s.name.is_empty()).collect();
    for (row, s) in named.iter().enumerate() {
        let y = y_of(row);
        let style = colour(s.colour).stroke_width(2);
        panel.draw(&PathElement::new(vec![(4, y), (24, y)], style))?;
        panel.draw(&Text::new(s.name.clone(), (30, y - 6), ("sans-serif", 12)))?;
    }
    let rest = (dot_names(plot).into_iter().map(|d| (true, d.to_string())))
        .chain(plot.markers.iter().map(|m| (false, m.label.clone())));
    for (row, (dot, name)) in rest.enumerate() {
        let y = y_of(named.len() + row);
        if dot {
            panel.draw(&Circle::new((14, y), 4, BLACK.mix(0.6).filled()))?;
        } else {
            panel.draw(&PathElement::new(
                vec![(14, y - 6), (14, y + 6)],
                BLACK.mix(0.55),
            ))?;
        }
        panel.draw(&Text::new(name, (30, y - 6), ("sans-serif", 12)))?;
    }
    Ok(())
}

/// Whether a point can be drawn on this plot's axes.
fn drawable(log_y: bool, &(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && (!log_y || y > 0.0)
}

/// The x and y ranges: the axes' own, else the data's (a linear y from 0, padded above).
fn ranges(plot: &LinePlot) -> (Range<f64>, Range<f64>) {
    let points = || {
        plot.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| drawable(plot.y.log, p))
    };
    let span = |it: &mut dyn Iterator<Item = f64>| {
        it.fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
    };
    let x = plot.x.range.unwrap_or_else(|| {
        let (lo, hi) = span(&mut points().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let hi = plot.markers.iter().map(|m| m.x).fold(hi, f64::max);
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    });
    let y = plot.y.range.unwrap_or_else(|| {
        let found = span(&mut points().map(|p| p.1));
        match (found, plot.y.log) {
            (Some((lo, hi)), true) => (lo / 2.0, hi * 2.0),
            (Some((lo, hi)), false) => {
                let lo = lo.min(0.0);
                let hi = if hi > lo { hi } else { lo + 1.0 };
                (lo, hi + (hi - lo) * 0.05)
            }
            (None, true) => (0.1, 10.0),
            (None, false) => (0.0, 1.0),
        }
    });
    (x.0..x.1, y.0..y.1)
}

fn draw<DB: DrawingBackend, Y>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    plot: &LinePlot,
    x: Range<f64>,
    y: Y,
    y_values: Range<f64>,
    legend_inside: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?;
    house_mesh(
        chart
            .configure_mesh()
            .x_desc(plot.x.label.as_str())
            .y_desc(if plot.y.log {
                format!("{} (log scale)", plot.y.label)
            } else {
                plot.y.label.clone()
            })
            .x_label_formatter(&tick)
            .y_label_formatter(&tick),
    )
    .draw()?;
    let log = plot.y.log;
    let mut labelled = false;
    for s in &plot.series {
        let style = match s.stroke {
            Stroke::Faint => colour(s.colour).mix(0.25).stroke_width(1),
            _ => colour(s.colour).stroke_width(2),
        };
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| drawable(log, p))
            .collect();
        let drawn = match s.stroke {
            Stroke::Solid | Stroke::Faint => chart.draw_series(LineSeries::new(points, style))?,
            Stroke::Dashed => chart.draw_series(DashedLineSeries::new(points, 7, 4, style))?,
            Stroke::Dotted => chart.draw_series(DashedLineSeries::new(points, 2, 3, style))?,
        };
        if !s.name.is_empty() {
            labelled = true;
            let stroke = s.stroke;
            drawn
                .label(s.name.as_str())
                .legend(move |(x, y)| match stroke {
                    Stroke::Solid | Stroke::Faint => {
                        PathElement::new(vec![(x, y), (x + 18, y)], style)
                    }
                    Stroke::Dashed => PathElement::new(vec![(x, y), (x + 7, y)], style),
                    Stroke::Dotted => PathElement::new(vec![(x, y), (x + 2, y)], style),
                });
        }
    }
    let mut named: Vec<&str> = Vec::new();
    for d in plot.dots.iter().filter(|d| drawable(log, &(d.x, d.y))) {
        let style = colour(d.colour).filled();
        let drawn = chart.draw_series(std::iter::once(Circle::new((d.x, d.y), 4, style)))?;
        if !d.name.is_empty() && !named.contains(&d.name.as_str()) {
            named.push(&d.name);
            labelled = true;
            drawn
                .label(d.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, BLACK.mix(0.6).filled()));
        }
    }
    let (lo, hi) = (y_values.start, y_values.end);
    for m in &plot.markers {
        let style = BLACK.mix(0.55).stroke_width(1);
        labelled = true;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(m.x, lo), (m.x, hi)],
                4,
                4,
                style,
            ))?
            .label(m.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], style));
    }
    if labelled && legend_inside {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}
