//! What every plot shares: its size, the series colours, the mesh's look, and how tick numbers
//! are written.

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

/// The errors a drawing returns.
pub type DrawResult<'a> = Result<
    (),
    DrawingAreaErrorKind<<SVGBackend<'a> as plotters::prelude::DrawingBackend>::ErrorType>,
>;

/// The SVG text that `draw` draws on a `SIZE` canvas.
pub fn svg(
    draw: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> DrawResult<'a>,
) -> String {
    svg_of_size(SIZE, draw)
}

/// The SVG text that `draw` draws on a canvas of `size` (a plot whose labels need more room).
pub fn svg_of_size(
    size: (u32, u32),
    draw: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> DrawResult<'a>,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        // Drawing into a String cannot fail; a failure would leave the picture partial.
        let _ = draw(&root);
        let _ = root.present();
    }
    out
}

/// Width and height of every SVG, in pixels: readable at 640 px wide.
pub const SIZE: (u32, u32) = (640, 420);

/// Series colours (matplotlib's tab10, colour-blind friendly in order).
pub const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Series colour `i` (cycling through `COLOURS`).
pub fn colour(i: usize) -> RGBColor {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b)
}

/// A tick's number as people write it: `0.3` not `0.30000000000000004`, `10` not `10.0`,
/// `1e-5` for the very small or large.
pub fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Draws the chart's legend (every series given a label) at `position`, on a light box.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
}

/// The mesh's look every plot shares: axis titles at 14 px, labels at 12 px, a light grid.
pub fn house_mesh<'a, 'b, 'm, X, Y, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged<ValueType: std::fmt::Debug>,
    Y: plotters::coord::ranged1d::Ranged<ValueType: std::fmt::Debug>,
    DB: DrawingBackend,
{
    mesh.axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
}
