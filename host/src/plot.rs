//! SVG charts with plotters' SVG backend. Text is written as `<text>` elements and laid
//! out by plotters' built-in estimate, so no font files are needed.
use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::atomic::{self, Staged};
use crate::eval::metrics::Evaluation;
use crate::model::create_parent;
use crate::train::History;

const FONT: &str = "sans-serif";

/// The SVG, staged beside `path` (committed by the caller, with the command's other
/// outputs).
fn render(path: &Path, draw: impl FnOnce(&mut String) -> Result<()>) -> Result<Staged> {
    let mut svg = String::new();
    draw(&mut svg).map_err(|e| anyhow!("{}: cannot draw: {e:#}", path.display()))?;
    create_parent(path)?;
    Ok(atomic::stage(path, svg.as_bytes())?)
}

/// Most classes a confusion matrix is drawn (or printed) for: beyond, nobody reads it.
pub const MAX_CONFUSION_CLASSES: usize = 30;

fn label(what: &str, window: usize) -> String {
    match window {
        1 => what.to_string(),
        w => format!("{what}, trailing mean of {w} points"),
    }
}

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// `(lo, hi)` of the finite values, widened a little; (0, 1) when there are none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// Trailing mean over `window` points, so long runs show a trend through the noise.
fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(points.len());
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= points[i - window].1;
        }
        out.push((x, sum / (i + 1).min(window) as f64));
    }
    out
}

/// Window for `n` points: none for short runs, else about 1/50 of the run.
fn window(n: usize) -> usize {
    if n < 200 {
        1
    } else {
        n / 50
    }
}

/// Loss (training batches and validation batches) above, validation accuracy below. Long
/// runs draw the raw values faintly and a moving average on top.
/// An epoch's end: the batch it ended at, and the test accuracy scored then, if it was
/// (`--eval-every-epoch`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochMark {
    pub batch: u64,
    pub test_accuracy: Option<f64>,
}

/// Dotted lines at epoch ends, when there are few enough to tell apart.
const MAX_EPOCH_LINES: usize = 60;

pub fn training_curves(
    path: &Path,
    history: &History,
    epochs: &[EpochMark],
    title: &str,
) -> Result<Staged> {
    render(path, |svg| {
        let root = SVGBackend::with_string(svg, (900, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, (FONT, 18)).map_err(plot_err)?;
        let (top, bottom) = root.split_vertically(320);
        let batches = history.loss.len().max(1) as f64;

        let train: Vec<(f64, f64)> = history
            .loss
            .iter()
            .enumerate()
            .map(|(i, &l)| ((i + 1) as f64, f64::from(l)))
            .filter(|p| p.1.is_finite())
            .collect();
        let val_loss: Vec<(f64, f64)> = history
            .val
            .iter()
            .map(|p| (p.batch as f64, p.loss))
            .filter(|p| p.1.is_finite())
            .collect();
        let (_, hi) = range(train.iter().chain(&val_loss).map(|p| p.1));
        let mut chart = ChartBuilder::on(&top)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..batches, 0.0..hi.max(1e-3))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("batch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("loss")
            .draw()
            .map_err(plot_err)?;
        let (blue, red) = (RGBColor(40, 90, 200), RGBColor(210, 40, 40));
        let (wt, wv) = (window(train.len()), window(val_loss.len()));
        if wt > 1 {
            chart
                .draw_series(LineSeries::new(train.clone(), blue.mix(0.25)))
                .map_err(plot_err)?;
        }
        chart
            .draw_series(LineSeries::new(smooth(&train, wt), blue.stroke_width(1)))
            .map_err(plot_err)?
            .label(label("training batches", wt))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
        if !val_loss.is_empty() {
            if wv > 1 {
                chart
                    .draw_series(LineSeries::new(val_loss.clone(), red.mix(0.25)))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(LineSeries::new(smooth(&val_loss, wv), red.stroke_width(2)))
                .map_err(plot_err)?
                .label(label("validation batches", wv))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;

        let acc: Vec<(f64, f64)> = history
            .val
            .iter()
            .map(|p| (p.batch as f64, p.accuracy))
            .collect();
        let tests: Vec<(f64, f64)> = epochs
            .iter()
            .filter_map(|m| m.test_accuracy.map(|a| (m.batch as f64, a)))
            .collect();
        // The axis starts just below the lowest point shown after the first tenth of the
        // run, so 95–99% is not squeezed into the top of a 0–1 axis.
        let settled = acc
            .iter()
            .chain(&tests)
            .filter(|p| p.0 >= batches / 10.0)
            .map(|p| p.1);
        let lowest = settled.fold(1.0f64, f64::min);
        let floor = ((lowest - 0.02) * 20.0).floor().clamp(0.0, 19.0) / 20.0;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..batches, floor..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("batch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(if tests.is_empty() {
                "validation accuracy"
            } else {
                "accuracy (validation, test)"
            })
            .draw()
            .map_err(plot_err)?;
        if epochs.len() <= MAX_EPOCH_LINES {
            let grey = RGBColor(150, 150, 150);
            for m in epochs {
                let x = m.batch as f64;
                chart
                    .draw_series(LineSeries::new([(x, floor), (x, 1.0)], grey.mix(0.5)))
                    .map_err(plot_err)?;
            }
        }
        let green = RGBColor(30, 150, 60);
        if !tests.is_empty() {
            chart
                .draw_series(LineSeries::new(tests.clone(), green.stroke_width(2)))
                .map_err(plot_err)?
                .label("test set, after each epoch")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green));
            chart
                .draw_series(tests.iter().map(|&p| Circle::new(p, 3, green.filled())))
                .map_err(plot_err)?;
        }
        let wa = window(acc.len());
        if wa > 1 {
            chart
                .draw_series(LineSeries::new(acc.clone(), red.mix(0.25)))
                .map_err(plot_err)?;
        }
        chart
            .draw_series(LineSeries::new(smooth(&acc, wa), red.stroke_width(2)))
            .map_err(plot_err)?
            .label(label("validation batches", wa))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
        if !acc.is_empty() || !tests.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
        Ok(())
    })
}

/// Refuses to draw a confusion matrix of more than [`MAX_CONFUSION_CLASSES`] classes
/// (for a command to check before its work).
pub fn check_confusion(path: &Path, classes: usize) -> Result<()> {
    if classes > MAX_CONFUSION_CLASSES {
        return Err(anyhow!(
            "{}: a confusion matrix of {classes} classes is too large to draw (at most \
             {MAX_CONFUSION_CLASSES}); --json has the counts",
            path.display()
        ));
    }
    Ok(())
}

/// The confusion matrix as a heat map: rows are true classes, columns predictions, each
/// cell shaded by its share of the row.
pub fn confusion(path: &Path, eval: &Evaluation, title: &str) -> Result<Staged> {
    check_confusion(path, eval.classes)?;
    let c = eval.classes.max(1);
    let cell: i32 = if c <= 12 { 56 } else { (700 / c as i32).max(8) };
    let (left, top) = (110, 80);
    let side = cell * c as i32;
    // Room on the right for the colour scale.
    let size = (
        (left + side + 150) as u32,
        (top + side.max(200) + 70) as u32,
    );
    render(path, |svg| {
        let root = SVGBackend::with_string(svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let font = |px: i32| (FONT, px).into_font();
        root.draw(&Text::new(title.to_string(), (left, 20), font(18)))
            .map_err(plot_err)?;
        root.draw(&Text::new(
            "predicted class",
            (left + side / 2 - 50, 48),
            font(14),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new("true class", (8, top + side / 2), font(14)))
            .map_err(plot_err)?;
        let show_counts = cell >= 28;
        for (t, row) in eval.confusion.iter().enumerate() {
            let row_total = row.iter().sum::<u64>().max(1) as f64;
            for (p, &n) in row.iter().enumerate() {
                let (x, y) = (left + p as i32 * cell, top + t as i32 * cell);
                let share = n as f64 / row_total;
                // Diagonal in blue, mistakes in red, both darker with their share.
                let base = if t == p {
                    RGBColor(40, 90, 200)
                } else {
                    RGBColor(210, 50, 40)
                };
                let fill = base.mix(if n == 0 { 0.0 } else { 0.08 + 0.92 * share });
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    fill.filled(),
                ))
                .map_err(plot_err)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(plot_err)?;
                if show_counts {
                    let color = if share > 0.5 { &WHITE } else { &BLACK };
                    let style = font(12).color(color);
                    root.draw(&Text::new(n.to_string(), (x + 6, y + cell / 2 - 6), style))
                        .map_err(plot_err)?;
                }
            }
            let label_y = top + t as i32 * cell + cell / 2 - 6;
            root.draw(&Text::new(t.to_string(), (left - 24, label_y), font(12)))
                .map_err(plot_err)?;
        }
        for p in 0..c {
            let x = left + p as i32 * cell + cell / 2 - 4;
            root.draw(&Text::new(p.to_string(), (x, top - 16), font(12)))
                .map_err(plot_err)?;
        }
        // The colour scale: what share of its row (true class) a cell's shade stands for.
        let (sx, steps, h) = (left + side + 30, 10, 18);
        root.draw(&Text::new("share of the row", (sx, top - 16), font(12)))
            .map_err(plot_err)?;
        for k in 0..=steps {
            let share = f64::from(k) / f64::from(steps);
            let y = top + (steps - k) * h;
            for (dx, base) in [(0, RGBColor(40, 90, 200)), (18, RGBColor(210, 50, 40))] {
                let fill = base.mix(if k == 0 { 0.0 } else { 0.08 + 0.92 * share });
                let r = [(sx + dx, y), (sx + dx + 16, y + h)];
                root.draw(&Rectangle::new(r, fill.filled()))
                    .map_err(plot_err)?;
                root.draw(&Rectangle::new(r, RGBColor(200, 200, 200).stroke_width(1)))
                    .map_err(plot_err)?;
            }
            if k % 5 == 0 {
                let label = format!("{:.0}%", 100.0 * share);
                root.draw(&Text::new(label, (sx + 40, y + 3), font(12)))
                    .map_err(plot_err)?;
            }
        }
        let legend_y = top + (steps + 1) * h + 8;
        root.draw(&Text::new("blue: right", (sx, legend_y), font(12)))
            .map_err(plot_err)?;
        root.draw(&Text::new("red: mistaken", (sx, legend_y + 16), font(12)))
            .map_err(plot_err)?;
        root.draw(&Text::new(
            format!(
                "accuracy {:.4} ({} of {})",
                eval.accuracy(),
                eval.correct(),
                eval.total()
            ),
            (left, top + side + 24),
            font(14),
        ))
        .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ValPoint;

    #[test]
    fn moving_average() {
        let p: Vec<(f64, f64)> = [1.0, 3.0, 5.0, 7.0].iter().map(|&y| (0.0, y)).collect();
        let ys: Vec<f64> = smooth(&p, 2).iter().map(|q| q.1).collect();
        assert_eq!(ys, [1.0, 2.0, 4.0, 6.0]);
        assert_eq!(smooth(&p, 1), p);
        assert_eq!((window(199), window(1000)), (1, 20));
    }

    #[test]
    fn writes_svgs_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let history = History {
            loss: vec![2.3, 1.5, f32::NAN, 0.9],
            val: vec![ValPoint {
                batch: 2,
                loss: 1.2,
                accuracy: 0.6,
            }],
        };
        let p = dir.path().join("sub/curves.svg");
        let marks = [EpochMark {
            batch: 2,
            test_accuracy: Some(0.5),
        }];
        training_curves(&p, &history, &marks, "test run")
            .unwrap()
            .commit()
            .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text") && svg.contains("test run"));
        assert!(svg.contains("accuracy") && svg.contains("validation batches"));
        assert!(
            svg.contains("test set, after each epoch"),
            "per-epoch test scores drawn"
        );

        let eval = Evaluation {
            classes: 2,
            confusion: vec![vec![3, 1], vec![0, 4]],
            loss: 0.3,
        };
        let p = dir.path().join("confusion.svg");
        confusion(&p, &eval, "confusion").unwrap().commit().unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.contains("accuracy 0.8750 (7 of 8)") && svg.contains("<rect"));
        assert!(
            svg.contains("share of the row") && svg.contains("100%"),
            "colour scale"
        );
    }
}
