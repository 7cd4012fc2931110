//! Charts as inline SVG strings, drawn with plotters. Each function takes plain series and returns
//! an `<svg>` element; an empty series gives a chart that says so instead of failing.

use plotters::prelude::*;

pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

const WIDTH: u32 = 640;
const HEIGHT: u32 = 300;

/// A named line.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn bounds(series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let mut points = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let &(x0, y0) = points.next()?;
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (x0, x0, y0, y0);
    for &(x, y) in points {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if xmax <= xmin {
        xmax = xmin + 1.0;
    }
    if ymax <= ymin {
        ymax = ymin + 1.0;
    }
    Some(((xmin, xmax), (ymin, ymax)))
}

/// Compact tick labels: no "10000.0".
fn tick(value: &f64) -> String {
    let v = *value;
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The frame every chart shares: caption, margins and axis label areas.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, ("sans-serif", 16)).margin(10).x_label_area_size(36).y_label_area_size(56);
    builder
}

fn empty(title: &str) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 80)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = root.draw(&Text::new(format!("{title}: no data"), (10, 30), ("sans-serif", 16).into_font()));
        let _ = root.present();
    }
    svg
}

/// Line chart; `shade` marks x ranges (warm-up, fault windows) with a grey band.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    shade: &[(f64, f64)],
    y_from_zero: bool,
) -> String {
    lines_marked(title, x_label, y_label, series, shade, &[], y_from_zero)
}

/// `lines` with `alerts`: x ranges shaded red (an alert firing).
pub fn lines_marked(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    shade: &[(f64, f64)],
    alerts: &[(f64, f64)],
    y_from_zero: bool,
) -> String {
    let Some(((xmin, xmax), (ymin, ymax))) = bounds(series) else {
        return empty(title);
    };
    let ymin = if y_from_zero { ymin.min(0.0) } else { ymin };
    let ymax = ymax + (ymax - ymin) * 0.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = frame(&root, title).build_cartesian_2d(xmin..xmax, ymin..ymax)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for &(start, end) in shade {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start.max(xmin), ymin), (end.min(xmax), ymax)],
                    RGBColor(200, 200, 200).mix(0.35).filled(),
                )))?;
            }
            for &(start, end) in alerts {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start.max(xmin), ymin), (end.min(xmax).max(start.max(xmin)), ymax)],
                    RGBColor(220, 40, 40).mix(0.18).filled(),
                )))?;
            }
            for (i, s) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()),
                        color.stroke_width(2),
                    ))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
            if series.len() > 1 {
                chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            }
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return empty(title);
        }
    }
    svg
}

/// Vertical bars over labelled categories.
pub fn bars(title: &str, y_label: &str, bars: &[(String, f64)]) -> String {
    if bars.is_empty() {
        return empty(title);
    }
    let ymax = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let n = bars.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = frame(&root, title).build_cartesian_2d((0u32..n).into_segmented(), 0.0..ymax)?;
            let label = |v: &SegmentValue<u32>| match v {
                SegmentValue::CenterOf(i) => bars.get(*i as usize).map(|b| b.0.clone()).unwrap_or_default(),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bars.len().min(24))
                .x_label_formatter(&label)
                .y_desc(y_label)
                .y_label_formatter(&tick)
                .draw()?;
            // One rectangle per bar, in order (plotters' `Histogram` sums its data in a hash map
            // and draws in that map's order, which differs from run to run). The gap between
            // bars shrinks with their number: a fixed one would give hundreds of bars (an LLM
            // engine's sequences per iteration) negative widths, which browsers reject.
            let (plot_width, _) = chart.plotting_area().dim_in_pixel();
            let gap = (plot_width / n / 5).min(6);
            chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
                let i = i as u32;
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), b.1)],
                    PALETTE[0].filled(),
                );
                bar.set_margin(0, 0, gap, gap);
                bar
            }))?;
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return empty(title);
        }
    }
    svg
}

/// Stacked bars: one bar per category, one coloured layer per series (`values[i]` is the series'
/// part of category `i`), with a legend.
pub fn stacked_bars(title: &str, y_label: &str, categories: &[String], layers: &[(String, Vec<f64>)]) -> String {
    let totals: Vec<f64> =
        (0..categories.len()).map(|i| layers.iter().map(|l| l.1.get(i).copied().unwrap_or(0.0)).sum()).collect();
    let ymax = totals.iter().copied().fold(0.0, f64::max);
    if categories.is_empty() || ymax <= 0.0 {
        return empty(title);
    }
    let n = categories.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = frame(&root, title).build_cartesian_2d((0u32..n).into_segmented(), 0.0..ymax * 1.1)?;
            let label = |v: &SegmentValue<u32>| match v {
                SegmentValue::CenterOf(i) => categories.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(categories.len().min(24))
                .x_label_formatter(&label)
                .y_desc(y_label)
                .y_label_formatter(&tick)
                .draw()?;
            let (plot_width, _) = chart.plotting_area().dim_in_pixel();
            let gap = (plot_width / n / 5).min(24);
            let mut base = vec![0.0; categories.len()];
            for (k, (name, values)) in layers.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()].mix(if k < PALETTE.len() { 1.0 } else { 0.55 });
                let bars: Vec<_> = (0..categories.len())
                    .map(|i| {
                        let (bottom, top) = (base[i], base[i] + values.get(i).copied().unwrap_or(0.0));
                        base[i] = top;
                        let i = i as u32;
                        let mut bar = Rectangle::new(
                            [(SegmentValue::Exact(i), bottom), (SegmentValue::Exact(i + 1), top)],
                            color.filled(),
                        );
                        bar.set_margin(0, 0, gap, gap);
                        bar
                    })
                    .collect();
                chart
                    .draw_series(bars)?
                    .label(name.clone())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return empty(title);
        }
    }
    svg
}

/// A point of a scatter: x, y, and whether it is highlighted, on the frontier, or infeasible.
pub struct Dot {
    pub x: f64,
    pub y: f64,
    pub kind: DotKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DotKind {
    Chosen,
    Frontier,
    Feasible,
    Infeasible,
}

/// Cost against p99 for sweep points: infeasible points hollow grey, the frontier joined by a line,
/// the chosen point a large red mark.
pub fn pareto(title: &str, dots: &[Dot]) -> String {
    pareto_on(title, "cost (USD per hour)", "p99 latency (ms)", dots)
}

/// [`pareto`] with other axes (a batch job's cost per run against its p99 makespan).
pub fn pareto_on(title: &str, x_desc: &str, y_desc: &str, dots: &[Dot]) -> String {
    // Infeasible points can sit orders of magnitude above the rest: clip them to the top of a scale
    // set by the feasible points, so the frontier stays readable.
    let feasible_top = dots.iter().filter(|d| d.kind != DotKind::Infeasible).map(|d| d.y).fold(f64::NAN, f64::max);
    let top = if feasible_top.is_finite() { feasible_top * 2.5 } else { f64::INFINITY };
    let clipped: Vec<Dot> = dots.iter().map(|d| Dot { x: d.x, y: d.y.min(top), kind: d.kind }).collect();
    let dots = clipped.as_slice();
    let series = [Series { name: String::new(), points: dots.iter().map(|d| (d.x, d.y)).collect() }];
    let Some(((xmin, xmax), (ymin, ymax))) = bounds(&series) else {
        return empty(title);
    };
    let pad_x = (xmax - xmin) * 0.08;
    let pad_y = (ymax - ymin) * 0.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 40)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = frame(&root, title)
                .build_cartesian_2d((xmin - pad_x)..(xmax + pad_x), (ymin - pad_y).max(0.0)..(ymax + pad_y))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()?;
            let style = |kind: DotKind| match kind {
                DotKind::Infeasible => ShapeStyle::from(RGBColor(170, 170, 170)).stroke_width(1),
                DotKind::Feasible => PALETTE[0].mix(0.6).filled(),
                DotKind::Frontier => PALETTE[0].filled(),
                DotKind::Chosen => PALETTE[3].filled(),
            };
            let mut frontier: Vec<(f64, f64)> = dots
                .iter()
                .filter(|d| matches!(d.kind, DotKind::Frontier | DotKind::Chosen))
                .map(|d| (d.x, d.y))
                .collect();
            frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(frontier, PALETTE[0].stroke_width(1)))?;
            for kind in [DotKind::Infeasible, DotKind::Feasible, DotKind::Frontier, DotKind::Chosen] {
                let size = if kind == DotKind::Chosen { 7 } else { 4 };
                let label = match kind {
                    DotKind::Infeasible => "misses the SLO",
                    DotKind::Feasible => "meets the SLO",
                    DotKind::Frontier => "Pareto frontier",
                    DotKind::Chosen => "chosen",
                };
                let points: Vec<(f64, f64)> = dots.iter().filter(|d| d.kind == kind).map(|d| (d.x, d.y)).collect();
                if points.is_empty() {
                    continue;
                }
                chart
                    .draw_series(points.into_iter().map(move |p| Circle::new(p, size, style(kind))))?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 6, y), size, style(kind)));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return empty(title);
        }
    }
    svg
}
