//! Charts as SVG drawn on the server: no script, nothing for the content
//! security policy to allow. Colours come from the stylesheet's classes.

use maud::{Markup, html};

const W: f64 = 640.0;
const H: f64 = 180.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// One line of a chart.
pub(crate) struct Series<'a> {
    /// Its name, in the legend.
    pub(crate) name: &'a str,
    /// Its stylesheet class (`s1`, `s2`, ...).
    pub(crate) class: &'a str,
    /// One value per point (the same length as the labels).
    pub(crate) values: Vec<f64>,
}

/// A line chart of `series` over `labels` (the first and last are printed
/// under the axis); `unit` formats the y axis's values.
pub(crate) fn line_chart(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    unit: impl Fn(f64) -> String,
) -> Markup {
    let n = labels.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let x = |i: usize| {
        if n <= 1 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v / max).clamp(0.0, 1.0));
    html! {
        figure.chart id=(id) {
            figcaption {
                (title)
                @for s in series {
                    span class={ "legend " (s.class) } { (s.name) }
                }
            }
            @if n == 0 {
                p.empty { "No activity in this period yet: workers report every 5 s." }
            } @else {
                svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
                    title { (title) }
                    @for frac in [0.0, 0.5, 1.0] {
                        line.grid x1=(LEFT) x2=(W - RIGHT) y1=(y(max * frac)) y2=(y(max * frac)) {}
                        text.axis x=(LEFT - 6.0) y=(y(max * frac) + 4.0) text-anchor="end" { (unit(max * frac)) }
                    }
                    @for s in series {
                        polyline class={ "line " (s.class) } fill="none" points=(points(&s.values, x, y)) {}
                        @if n == 1 {
                            circle class={ "dot " (s.class) } cx=(x(0)) cy=(y(s.values.first().copied().unwrap_or(0.0))) r="3" {}
                        }
                    }
                    text.axis x=(LEFT) y=(H - 6.0) { (labels.first().map(String::as_str).unwrap_or("")) }
                    text.axis x=(W - RIGHT) y=(H - 6.0) text-anchor="end" { (labels.last().map(String::as_str).unwrap_or("")) }
                }
            }
        }
    }
}

fn points(values: &[f64], x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(if v.is_finite() { *v } else { 0.0 })))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A horizontal bar of `fraction` (0 to 1), for shares.
pub(crate) fn share_bar(fraction: f64) -> Markup {
    let pct = (fraction.clamp(0.0, 1.0) * 100.0 * 10.0).round() / 10.0;
    html! {
        span.share {
            svg.bar viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label={ (pct) " %" } {
                rect.track width="100" height="8" {}
                rect.fill width=(pct) height="8" {}
            }
            " " (format!("{pct:.1} %"))
        }
    }
}
