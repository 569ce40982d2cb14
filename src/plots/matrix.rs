//! A confusion matrix on plotters: two panels, counts and row-normalized shares, each cell
//! shaded by its row share and printed with its number, true class down and predicted class
//! across, named on the axes.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::MatrixPlot;
use super::style::legend;

/// The SVG of `plot` under `title`.
pub fn render(title: &str, plot: &MatrixPlot) -> String {
    super::style::svg(|root| draw(root, title, plot))
}

/// White to blue by `share` (0 to 1).
fn shade(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |w: f64, c: f64| (w + (c - w) * s).round() as u8;
    RGBColor(mix(255.0, 31.0), mix(255.0, 119.0), mix(255.0, 180.0))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    plot: &MatrixPlot,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 16))?;
    let panels = root.split_evenly((1, 2));
    let k = plot.labels.len().max(1);
    // An integer range is inclusive here: 0..k-1 is k cells.
    let name = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => plot.labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // Row 0 is drawn at the top.
    let row_name = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) if *i < k => {
            plot.labels.get(k - 1 - i).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    for (panel, counts) in panels.iter().zip([true, false]) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                if counts {
                    "counts"
                } else {
                    "share of each true class"
                },
                ("sans-serif", 13),
            )
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k.min(30))
            .y_labels(k.min(30))
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .x_desc("predicted class")
            .y_desc("true class")
            .axis_desc_style(("sans-serif", 13))
            .label_style(("sans-serif", 11))
            .draw()?;
        // Row 0 at the top, as a confusion matrix is read.
        let cells =
            (0..plot.counts.len()).flat_map(|t| (0..plot.counts[t].len()).map(move |p| (t, p)));
        let row = |t: usize| k - 1 - t;
        let shaded = chart.draw_series(cells.clone().map(|(t, p)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(p), SegmentValue::Exact(row(t))),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(row(t) + 1)),
                ],
                shade(plot.normalized[t][p]).filled(),
            )
        }))?;
        // The colour key: how dark a cell is says its share of its true class.
        if !counts {
            shaded.label("share 0").legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 12, y + 5)],
                    BLACK.mix(0.4).stroke_width(1),
                )
            });
            chart
                .draw_series(std::iter::empty::<
                    Rectangle<(SegmentValue<usize>, SegmentValue<usize>)>,
                >())?
                .label("share 1")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], shade(1.0).filled())
                });
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        if k <= 12 {
            chart.draw_series(cells.map(|(t, p)| {
                let share = plot.normalized[t][p];
                let text = if counts {
                    plot.counts[t][p].to_string()
                } else {
                    format!("{share:.2}")
                };
                let ink = if share > 0.55 { WHITE } else { BLACK };
                Text::new(
                    text,
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(row(t))),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))?;
        }
    }
    Ok(())
}
