//! PNG charts of a run: stacked panels of lines over time, drawn with `plotters` on its bitmap
//! backend. The text uses DejaVu Sans embedded in the binary (the `dejavu` crate), so no system
//! font is needed; should the font ever fail to load, the chart is drawn without any text.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use plotters::prelude::*;

/// One line of a panel: a name for the legend and its (x, y) points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, the unit of its y axis, and its lines (all sharing the x axis, seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

const WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 420;
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

/// Registers the embedded font once; whether text can be drawn.
fn fonts_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    })
}

/// The axis range for values up to `max`: from 0 to a little above it (at least `min_top`).
pub fn axis_top(max: f64, min_top: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        (max * 1.1).max(min_top)
    } else {
        min_top
    }
}

/// Draws `panels` one above the other into the PNG at `path`, under `title`.
pub fn draw_png(path: &Path, title: &str, panels: &[Panel]) -> anyhow::Result<()> {
    let text = fonts_ready();
    let panel_count = u32::try_from(panels.len().max(1)).unwrap_or(1);
    let height = PANEL_HEIGHT * panel_count + if text { 40 } else { 10 };
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    let failed = |error: &dyn std::fmt::Display| anyhow!("drawing {}: {error}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let root = if text {
        root.titled(title, ("sans-serif", 24))
            .map_err(|e| failed(&e))?
    } else {
        root.margin(10, 0, 0, 0)
    };
    let x_max = panels
        .iter()
        .flat_map(|panel| panel.lines.iter())
        .flat_map(|line| line.points.iter().map(|(x, _)| *x))
        .fold(0.0_f64, f64::max);
    let x_range = 0.0..(x_max.ceil() + 1.0).max(1.0);
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let y_max = panel
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|(_, y)| *y))
            .fold(0.0_f64, f64::max);
        let mut builder = ChartBuilder::on(area);
        builder.margin(12);
        if text {
            builder
                .caption(&panel.title, ("sans-serif", 20))
                .x_label_area_size(40)
                .y_label_area_size(80);
        } else {
            builder.x_label_area_size(5).y_label_area_size(5);
        }
        let mut chart = builder
            .build_cartesian_2d(x_range.clone(), 0.0..axis_top(y_max, 1.0))
            .map_err(|e| failed(&e))?;
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(RGBColor(235, 235, 235));
        if text {
            mesh.x_desc("time (s)")
                .y_desc(panel.y_label.as_str())
                .x_label_formatter(&|x| short_number(*x))
                .y_label_formatter(&|y| short_number(*y));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| failed(&e))?;
        for (index, line) in panel.lines.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let series = chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| failed(&e))?;
            if text {
                series.label(line.name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
        }
        if text && !panel.lines.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(|e| failed(&e))?;
        }
    }
    root.present()
        .map_err(|e| failed(&e))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `1234567` as `1.23M`, `45000` as `45k`, `12.5` as `12.5`: tick labels that fit.
pub fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        trim(format!("{:.2}", value / 1e6)) + "M"
    } else if magnitude >= 1e4 {
        trim(format!("{:.1}", value / 1e3)) + "k"
    } else if magnitude >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else {
        trim(format!("{value:.2}"))
    }
}

fn trim(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(12.5), "12.5");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(short_number(250.0), "250");
        assert_eq!(short_number(9999.0), "9999");
        assert_eq!(short_number(45_000.0), "45k");
        assert_eq!(short_number(12_345.0), "12.3k");
        assert_eq!(short_number(1_234_567.0), "1.23M");
        assert_eq!(short_number(2_000_000.0), "2M");
    }

    #[test]
    fn axes_leave_headroom() {
        assert_eq!(axis_top(100.0, 1.0), 110.00000000000001);
        assert_eq!(axis_top(0.0, 1.0), 1.0);
        assert_eq!(axis_top(f64::NAN, 5.0), 5.0);
        assert_eq!(axis_top(0.5, 1.0), 1.0);
    }

    #[test]
    fn a_chart_renders_to_a_png() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("chart.png");
        let panels = [
            Panel {
                title: "throughput".into(),
                y_label: "per second".into(),
                lines: vec![Line {
                    name: "accepted/s".into(),
                    points: (0..10)
                        .map(|s| (f64::from(s), f64::from(s * 100)))
                        .collect(),
                }],
            },
            Panel {
                title: "latency".into(),
                y_label: "ms".into(),
                lines: vec![
                    Line {
                        name: "p50".into(),
                        points: (0..10).map(|s| (f64::from(s), 2.0)).collect(),
                    },
                    Line {
                        name: "p99".into(),
                        points: Vec::new(),
                    },
                ],
            },
        ];
        assert!(fonts_ready(), "the embedded font loads");
        draw_png(&path, "test chart", &panels).expect("drawn");
        let bytes = std::fs::read(&path).expect("written");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            bytes.len() > 5_000,
            "suspiciously small: {} bytes",
            bytes.len()
        );
        // No panels at all still makes a (blank) chart rather than failing.
        draw_png(&dir.path().join("empty.png"), "empty", &[]).expect("drawn");
    }
}
