//! Bar plots on plotters: one bar per entry (labelled under it), its mean with an error bar of
//! ± one standard deviation, a numbered y axis with its title.

use plotters::prelude::*;

use super::figure::BarPlot;
use super::style::{colour, legend, tick};

/// The SVG of `plot` under `title`.
pub fn render(title: &str, plot: &BarPlot) -> String {
    super::style::svg(|root| draw(root, title, plot))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    plot: &BarPlot,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = plot.bars.len().max(1);
    // An integer range is inclusive here: 0..n-1 is n slots.
    let top = plot
        .bars
        .iter()
        .map(|b| b.value + b.error.unwrap_or(0.0))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let (lo, hi) = plot
        .y
        .range
        .unwrap_or((0.0, if top > 0.0 { top * 1.1 } else { 1.0 }));
    let labels: Vec<String> = plot.bars.iter().map(|b| b.label.clone()).collect();
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&label_of)
        .y_label_formatter(&tick)
        .x_desc("variant")
        .y_desc(plot.y.label.as_str())
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    let bars = chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), lo),
                (SegmentValue::Exact(i + 1), b.value.clamp(lo, hi)),
            ],
            colour(i).mix(0.75).filled(),
        );
        bar.set_margin(0, 0, 12, 12);
        bar
    }))?;
    bars.label("mean over the folds").legend(|(x, y)| {
        Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour(0).mix(0.75).filled())
    });
    let errors = chart.draw_series(plot.bars.iter().enumerate().filter_map(|(i, b)| {
        let e = b.error?;
        Some(ErrorBar::new_vertical(
            SegmentValue::CenterOf(i),
            (b.value - e).max(lo),
            b.value,
            (b.value + e).min(hi),
            BLACK.stroke_width(1),
            10,
        ))
    }))?;
    errors.label("± one standard deviation").legend(|(x, y)| {
        PathElement::new(vec![(x + 7, y - 6), (x + 7, y + 6)], BLACK.stroke_width(1))
    });
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}
