//! Bar plots on plotters: one bar per entry, its mean with an error bar of ± one standard
//! deviation, the value axis titled with what bars and error bars are (no legend over the
//! bars). Up to four bars stand side by side, labelled under them; more lie in rows, best at the
//! top, each labelled at its left, so long labels of 16 variants never collide.

use plotters::prelude::*;

use super::figure::BarPlot;
use super::style::{colour, house_mesh, tick};

/// Most bars drawn standing; more are drawn lying, one row each.
const STANDING: usize = 4;
/// A lying bar's row, in pixels.
const ROW: u32 = 28;

/// The SVG of `plot` under `title`; lying bars make the picture as tall as their rows need.
pub fn render(title: &str, plot: &BarPlot) -> String {
    let (width, height) = super::style::SIZE;
    if plot.bars.len() <= STANDING {
        return super::style::svg(|root| draw(root, title, plot, false));
    }
    let rows = plot.bars.len() as u32 * ROW + 110;
    super::style::svg_of_size((width + label_width(plot), height.max(rows)), |root| {
        draw(root, title, plot, true)
    })
}

/// Room for the longest label at 12 px (about 7 px a character).
fn label_width(plot: &BarPlot) -> u32 {
    let longest = plot.bars.iter().map(|b| b.label.chars().count()).max();
    12 + 7 * longest.unwrap_or(0) as u32
}

/// The value axis' range: the plot's, else from 0 to a tenth above the highest reach.
fn range(plot: &BarPlot) -> (f64, f64) {
    let top = (plot.bars.iter())
        .map(|b| b.value + b.error.unwrap_or(0.0))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    plot.y
        .range
        .unwrap_or((0.0, if top > 0.0 { top * 1.1 } else { 1.0 }))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    plot: &BarPlot,
    lying: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = plot.bars.len().max(1);
    let (lo, hi) = range(plot);
    // Lying, the first bar is the top row (plotters counts rows from the bottom).
    let slot = |i: usize| if lying { n - 1 - i } else { i };
    let labels: Vec<String> = plot.bars.iter().map(|b| b.label.clone()).collect();
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(s) => labels.get(slot(*s)).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, ("sans-serif", 16)).margin(12);
    // An integer range is inclusive here: 0..n-1 is n slots.
    let slots = (0..n - 1).into_segmented();
    if lying {
        builder
            .x_label_area_size(48)
            .y_label_area_size(label_width(plot));
        let mut chart = builder.build_cartesian_2d(lo..hi, slots)?;
        house_mesh(
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&label_of)
                .x_label_formatter(&tick)
                .x_desc(plot.y.label.as_str()),
        )
        .draw()?;
        chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
            let s = slot(i);
            let corners = [
                (lo, SegmentValue::Exact(s)),
                (b.value.clamp(lo, hi), SegmentValue::Exact(s + 1)),
            ];
            let mut bar = Rectangle::new(corners, colour(i).mix(0.75).filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        chart.draw_series(plot.bars.iter().enumerate().filter_map(|(i, b)| {
            let e = b.error?;
            let (from, to) = ((b.value - e).max(lo), (b.value + e).min(hi));
            let at = SegmentValue::CenterOf(slot(i));
            Some(ErrorBar::new_horizontal(
                at,
                from,
                b.value,
                to,
                BLACK.stroke_width(1),
                8,
            ))
        }))?;
        return Ok(());
    }
    builder.x_label_area_size(48).y_label_area_size(64);
    let mut chart = builder.build_cartesian_2d(slots, lo..hi)?;
    house_mesh(
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_label_formatter(&tick)
            .x_desc("variant")
            .y_desc(plot.y.label.as_str()),
    )
    .draw()?;
    chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
        let corners = [
            (SegmentValue::Exact(i), lo),
            (SegmentValue::Exact(i + 1), b.value.clamp(lo, hi)),
        ];
        let mut bar = Rectangle::new(corners, colour(i).mix(0.75).filled());
        bar.set_margin(0, 0, 12, 12);
        bar
    }))?;
    chart.draw_series(plot.bars.iter().enumerate().filter_map(|(i, b)| {
        let e = b.error?;
        let (from, to) = ((b.value - e).max(lo), (b.value + e).min(hi));
        Some(ErrorBar::new_vertical(
            SegmentValue::CenterOf(i),
            from,
            b.value,
            to,
            BLACK.stroke_width(1),
            10,
        ))
    }))?;
    Ok(())
}
