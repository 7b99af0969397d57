//! Chart plumbing for inline SVG: plot frames, linear and logarithmic scales with readable
//! ticks, and the colours of failure clusters.

use super::markup::Html;

/// Colours of the first clusters (Okabe-Ito, told apart with colour-blindness too); later
/// clusters share the last, grey.
pub const CLUSTER_COLOURS: [&str; 8] = [
    "#d55e00", "#0072b2", "#cc79a7", "#009e73", "#e69f00", "#56b4e9", "#7a5195", "#6e7781",
];

/// The colour of cluster `index` (`None`: a failure without a signature).
pub fn cluster_colour(index: Option<usize>) -> &'static str {
    match index {
        Some(i) if i < CLUSTER_COLOURS.len() => CLUSTER_COLOURS[i],
        _ => CLUSTER_COLOURS[CLUSTER_COLOURS.len() - 1],
    }
}

/// A chart's canvas and the plot area inside its margins, in SVG units.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Canvas width.
    pub width: f64,
    /// Canvas height.
    pub height: f64,
    /// Left edge of the plot.
    pub left: f64,
    /// Right edge of the plot.
    pub right: f64,
    /// Top edge of the plot.
    pub top: f64,
    /// Bottom edge of the plot.
    pub bottom: f64,
}

impl Frame {
    /// A canvas of `width` x `height` with room for axis labels on the left and below.
    pub fn new(width: f64, height: f64, left_margin: f64) -> Frame {
        Frame {
            width,
            height,
            left: left_margin,
            right: width - 16.0,
            top: 12.0,
            bottom: height - 30.0,
        }
    }

    /// Open the `<svg>` element with an accessible label.
    pub fn open(&self, html: &mut Html, label: &str) {
        let view = format!("0 0 {} {}", self.width, self.height);
        let width = num(self.width);
        html.open(
            "svg",
            &[
                ("xmlns", "http://www.w3.org/2000/svg"),
                ("viewBox", &view),
                ("width", &width),
                ("role", "img"),
                ("aria-label", label),
            ],
        );
        html.element("title", &[], label);
    }
}

/// Map a data range onto a pixel range, linearly or logarithmically.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
    log: bool,
}

impl Scale {
    /// A linear scale; an empty data range is widened so nothing divides by zero.
    pub fn linear(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Scale {
            d0,
            d1,
            r0,
            r1,
            log: false,
        }
    }

    /// A logarithmic scale over positive values.
    pub fn log(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let d0 = d0.max(f64::MIN_POSITIVE);
        let d1 = if d1 > d0 * 1.0001 { d1 } else { d0 * 10.0 };
        Scale {
            d0,
            d1,
            r0,
            r1,
            log: true,
        }
    }

    /// The pixel position of `value` (clamped to the range).
    pub fn at(&self, value: f64) -> f64 {
        let fraction = if self.log {
            (value.max(self.d0).ln() - self.d0.ln()) / (self.d1.ln() - self.d0.ln())
        } else {
            (value - self.d0) / (self.d1 - self.d0)
        };
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self.r0 + (self.r1 - self.r0) * fraction
    }

    /// Powers of ten in range, with 2x and 5x between them when that is too few.
    fn log_ticks(&self, count: usize) -> Vec<f64> {
        let first = self.d0.log10().floor() as i32;
        let last = self.d1.log10().ceil() as i32;
        let within = |v: &f64| *v >= self.d0 * 0.999_999 && *v <= self.d1 * 1.000_001;
        let powers: Vec<f64> = (first..=last)
            .map(|e| 10f64.powi(e))
            .filter(within)
            .collect();
        if powers.len() >= 3 {
            let step = powers.len().div_ceil(count.max(1));
            return powers.into_iter().step_by(step).collect();
        }
        (first..=last)
            .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
            .filter(within)
            .collect()
    }

    /// Tick positions: about `count` round numbers, or powers of ten on a log scale.
    pub fn ticks(&self, count: usize) -> Vec<f64> {
        if self.log {
            return self.log_ticks(count);
        }
        let raw = (self.d1 - self.d0) / count.max(1) as f64;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|step| *step >= raw)
            .unwrap_or(raw);
        let first = (self.d0 / step).ceil() as i64;
        let last = (self.d1 / step + 1e-9).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }
}

/// A coordinate or size for SVG, to one decimal.
pub fn num(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        "0".to_string()
    }
}

/// Draw the plot's axes, horizontal grid lines at the y ticks, and tick labels on both axes.
pub fn axes(
    html: &mut Html,
    frame: &Frame,
    x: (&Scale, &[f64], &dyn Fn(f64) -> String),
    y: (&Scale, &[f64], &dyn Fn(f64) -> String),
) {
    let (xs, xticks, xlabel) = x;
    let (ys, yticks, ylabel) = y;
    for &tick in yticks {
        let at = num(ys.at(tick));
        let (left, right) = (num(frame.left), num(frame.right));
        html.void(
            "line",
            &[
                ("class", "grid"),
                ("x1", &left),
                ("x2", &right),
                ("y1", &at),
                ("y2", &at),
            ],
        );
        let label_x = num(frame.left - 6.0);
        let label_y = num(ys.at(tick) + 4.0);
        html.element(
            "text",
            &[("x", &label_x), ("y", &label_y), ("text-anchor", "end")],
            &ylabel(tick),
        );
    }
    let (left, right, bottom) = (num(frame.left), num(frame.right), num(frame.bottom));
    html.void(
        "line",
        &[
            ("class", "axis"),
            ("x1", &left),
            ("x2", &right),
            ("y1", &bottom),
            ("y2", &bottom),
        ],
    );
    for &tick in xticks {
        let at = num(xs.at(tick));
        let below = num(frame.bottom + 16.0);
        let tick_end = num(frame.bottom + 4.0);
        html.void(
            "line",
            &[
                ("class", "axis"),
                ("x1", &at),
                ("x2", &at),
                ("y1", &bottom),
                ("y2", &tick_end),
            ],
        );
        html.element(
            "text",
            &[("x", &at), ("y", &below), ("text-anchor", "middle")],
            &xlabel(tick),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_and_clamp() {
        let linear = Scale::linear(0.0, 10.0, 100.0, 200.0);
        assert_eq!(linear.at(5.0), 150.0);
        assert_eq!(linear.at(-3.0), 100.0);
        assert_eq!(linear.at(99.0), 200.0);
        let log = Scale::log(0.001, 1.0, 0.0, 300.0);
        assert!((log.at(0.01) - 100.0).abs() < 1e-9);
        assert_eq!(log.at(0.0), 0.0);
        assert_eq!(Scale::linear(3.0, 3.0, 0.0, 1.0).at(3.0), 0.0);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            Scale::linear(0.0, 10.0, 0.0, 1.0).ticks(5),
            [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let ticks = Scale::linear(0.0, 0.7, 0.0, 1.0).ticks(4);
        assert_eq!(ticks.len(), 4);
        assert!((ticks[3] - 0.6).abs() < 1e-12, "{ticks:?}");
        assert_eq!(
            Scale::log(0.0005, 2.0, 0.0, 1.0).ticks(5),
            [0.001, 0.01, 0.1, 1.0]
        );
        assert_eq!(
            Scale::log(0.003, 0.06, 0.0, 1.0).ticks(5),
            [0.005, 0.01, 0.02, 0.05]
        );
    }
}
