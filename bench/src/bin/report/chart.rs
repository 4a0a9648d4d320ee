//! The chart at the top of `BENCHMARKS.md`, drawn as SVG from the run's own medians: a panel
//! per store or setting (time per request, session-kit beside each peer, grouped by request
//! kind, the ratio over our bars), then a panel per store of cost against session size (5 and
//! 50 fields, each side). Each panel has its own linear scale: stores differ by 100x.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::pairs::{Panel, Role, SizePanel};

const PANEL_WIDTH: u32 = 400;
const PANEL_HEIGHT: u32 = 340;
const TITLE_HEIGHT: u32 = 64;
const SECTION_HEIGHT: u32 = 34;
const MAX_COLUMNS: usize = 4;

const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(40, 40, 40);
const FASTER: RGBColor = RGBColor(20, 120, 50);
const SLOWER: RGBColor = RGBColor(190, 40, 30);
/// Ours in blues and teals, peers in oranges and browns, the bare handler in grey.
const OURS: [RGBColor; 4] =
    [RGBColor(31, 95, 191), RGBColor(42, 157, 143), RGBColor(108, 92, 231), RGBColor(74, 144, 226)];
const PEERS: [RGBColor; 3] = [RGBColor(224, 123, 57), RGBColor(166, 97, 26), RGBColor(214, 162, 60)];
const BASELINE: RGBColor = RGBColor(160, 160, 160);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Failure = Box<dyn std::error::Error>;

/// Writes the chart of `panels` and `sizes` to `path`; `runs` says in the title how many runs
/// the medians come from.
pub(crate) fn draw(path: &Path, panels: &[Panel], sizes: &[SizePanel], runs: usize) -> Result<(), Failure> {
    let columns = panels.len().max(sizes.len()).clamp(1, MAX_COLUMNS);
    let bar_rows = panels.len().div_ceil(columns);
    let size_rows = sizes.len().div_ceil(columns);
    let width = PANEL_WIDTH * columns as u32;
    let height = TITLE_HEIGHT
        + PANEL_HEIGHT * bar_rows as u32
        + if size_rows > 0 { SECTION_HEIGHT + PANEL_HEIGHT * size_rows as u32 } else { 0 };
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;

    let (title, rest) = root.split_vertically(TITLE_HEIGHT);
    let measured = if runs > 1 {
        format!("median of {runs} runs' criterion medians")
    } else {
        "criterion median, one run".to_owned()
    };
    title.draw(&Text::new(
        format!("session-kit beside the peers: time per request ({measured}; lower is better)"),
        (12, 10),
        (FONT, 20).into_font().color(&INK),
    ))?;
    title.draw(&Text::new(
        "Over session-kit's bars: peer time / session-kit time, green above 1 (session-kit faster). Each panel has its own scale.",
        (12, 38),
        (FONT, 14).into_font().color(&INK),
    ))?;

    let (bars, below) = rest.split_vertically(PANEL_HEIGHT * bar_rows as u32);
    if bar_rows > 0 {
        for (panel, cell) in panels.iter().zip(bars.split_evenly((bar_rows, columns))) {
            bar_panel(&cell, panel)?;
        }
    }
    if size_rows > 0 {
        let (section, cells) = below.split_vertically(SECTION_HEIGHT);
        section.draw(&Text::new(
            "Cost against session size: 5 and 50 fields of ~150-byte strings (read: every field; write-one: one field changed)",
            (12, 8),
            (FONT, 16).into_font().color(&INK),
        ))?;
        for (panel, cell) in sizes.iter().zip(cells.split_evenly((size_rows, columns))) {
            size_panel(&cell, panel)?;
        }
    }
    root.present()?;
    Ok(())
}

/// A unit for times up to `max` ns: (name, ns per unit).
fn unit(max: f64) -> (&'static str, f64) {
    if max >= 1e6 {
        ("ms", 1e6)
    } else if max >= 1e3 {
        ("µs", 1e3)
    } else {
        ("ns", 1.0)
    }
}

/// A time in `unit`s with three significant digits.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// An axis tick: no trailing zeros (`5`, `12.5`, `0.25`).
fn tick(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn color_of(role: Role, index: usize) -> RGBColor {
    match role {
        Role::Ours => OURS[index % OURS.len()],
        Role::Peer => PEERS[index % PEERS.len()],
        Role::Baseline => BASELINE,
    }
}

fn centered_bottom(size: u32, color: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font()).color(color).pos(Pos::new(HPos::Center, VPos::Bottom))
}

/// Grouped bars: one group per request kind, one bar per contender.
fn bar_panel(area: &Area<'_>, panel: &Panel) -> Result<(), Failure> {
    let mut kinds: Vec<&str> = Vec::new();
    let mut contenders: Vec<(&str, Role)> = Vec::new();
    for bar in &panel.bars {
        if !kinds.contains(&bar.kind.as_str()) {
            kinds.push(&bar.kind);
        }
        if !contenders.iter().any(|(label, _)| *label == bar.label) {
            contenders.push((&bar.label, bar.role));
        }
    }
    contenders.sort_by_key(|(label, role)| (*role, *label));
    let max = panel.bars.iter().map(|b| b.ns).fold(0.0, f64::max);
    let (unit_name, per) = unit(max);
    // Headroom for the labels over the bars and for the legend.
    let top = max / per * (1.35 + 0.11 * contenders.len() as f64);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.name, (FONT, 18).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..kinds.len() as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // The kinds are written under each group below, not at plotters' numeric ticks.
        .x_label_formatter(&|_| String::new())
        .y_desc(format!("time per request ({unit_name})"))
        .y_label_formatter(&|y| tick(*y))
        .label_style((FONT, 13).into_font().color(&INK))
        .axis_desc_style((FONT, 13).into_font().color(&INK))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    let slot = 0.8 / contenders.len() as f64;
    let (mut ours, mut peers) = (0, 0);
    for (index, (label, role)) in contenders.iter().enumerate() {
        let color = match role {
            Role::Ours => {
                ours += 1;
                color_of(*role, ours - 1)
            }
            _ => {
                peers += 1;
                color_of(*role, peers - 1)
            }
        };
        let bars: Vec<(f64, &crate::pairs::Bar)> = panel
            .bars
            .iter()
            .filter(|b| b.label == *label)
            .filter_map(|b| kinds.iter().position(|k| *k == b.kind).map(|k| (k as f64 + 0.1 + index as f64 * slot, b)))
            .collect();
        chart
            .draw_series(bars.iter().map(|(x, b)| {
                Rectangle::new([(*x + slot * 0.06, 0.0), (*x + slot * 0.94, b.ns / per)], color.filled())
            }))?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        for (x, b) in &bars {
            let middle = *x + slot / 2.0;
            let height = b.ns / per;
            chart.draw_series(std::iter::once(Text::new(
                figure(height),
                (middle, height),
                centered_bottom(11, &INK),
            )))?;
            if let Some(ratio) = b.ratio {
                let tint = if ratio >= 1.0 { FASTER } else { SLOWER };
                // One text line above the value.
                let above = height + top * 0.055;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{ratio:.2}x"),
                    (middle, above),
                    centered_bottom(12, &tint),
                )))?;
            }
        }
    }
    let base = area.get_base_pixel();
    for (k, kind) in kinds.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(k as f64 + 0.5, 0.0));
        let style = TextStyle::from((FONT, 13).into_font()).color(&INK).pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(*kind, (x - base.0, y - base.1 + 8), style))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 12).into_font().color(&INK))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    Ok(())
}

/// Lines from 5 to 50 fields, one per contender and kind, with the growth at the end.
fn size_panel(area: &Area<'_>, panel: &SizePanel) -> Result<(), Failure> {
    let max = panel.lines.iter().flat_map(|l| l.points.iter().map(|(_, ns)| *ns)).fold(0.0, f64::max);
    let (unit_name, per) = unit(max);
    let top = max / per * (1.3 + 0.1 * panel.lines.len() as f64);
    let most = panel.lines.iter().flat_map(|l| l.points.iter().map(|(n, _)| f64::from(*n))).fold(0.0, f64::max);
    // Room right of the last point for the growth labels.
    let right = if most > 0.0 { most * 1.3 } else { 65.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: cost against size", panel.store), (FONT, 18).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..right, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("fields in the session")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(format!("time per request ({unit_name})"))
        .y_label_formatter(&|y| tick(*y))
        .label_style((FONT, 13).into_font().color(&INK))
        .axis_desc_style((FONT, 13).into_font().color(&INK))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    let (mut ours, mut peers) = (0, 0);
    let mut colors: Vec<(String, RGBColor)> = Vec::new();
    let mut growths: Vec<(f64, f64, String, RGBColor)> = Vec::new();
    for line in &panel.lines {
        let color = match colors.iter().find(|(c, _)| *c == line.contender) {
            Some((_, color)) => *color,
            None => {
                let counter = if line.role == Role::Ours { &mut ours } else { &mut peers };
                *counter += 1;
                let color = color_of(line.role, *counter - 1);
                colors.push((line.contender.clone(), color));
                color
            }
        };
        let points: Vec<(f64, f64)> = line.points.iter().map(|(n, ns)| (f64::from(*n), ns / per)).collect();
        let style = color.stroke_width(2);
        let label = format!("{} {}", line.contender, line.kind);
        // Reads solid with dots, writes dashed with triangles.
        if line.kind == "read" {
            chart
                .draw_series(LineSeries::new(points.clone(), style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
        } else {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 6, y)], style));
            chart.draw_series(points.iter().map(|p| TriangleMarker::new(*p, 5, color.filled())))?;
        }
        if let (Some(growth), Some(last)) = (line.growth(), points.last()) {
            growths.push((last.0, last.1, format!("×{growth:.2}"), color));
        }
    }
    // Growth labels right of each line's end, moved apart where lines end close together.
    growths.sort_by(|a, b| a.1.total_cmp(&b.1));
    let gap = top * 0.055;
    let mut floor = f64::MIN;
    for (x, y, text, color) in growths {
        let y = y.max(floor + gap);
        floor = y;
        let style = TextStyle::from((FONT, 12).into_font()).color(&color).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(std::iter::once(Text::new(text, (x + right * 0.03, y), style)))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 12).into_font().color(&INK))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    Ok(())
}
