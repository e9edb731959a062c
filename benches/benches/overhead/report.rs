//! The table, the JSON file and the plot, from every round of every set-up.
//!
//! Costs are per round against the same round's no-subscriber child, so
//! that a machine busier in one round than another shifts both sides; the
//! figures are the medians over rounds, with the smallest and largest.

use std::path::Path;

use plotters::prelude::*;
use serde_json::{Value, json};

use crate::WORK_US;
use crate::setups::SETUPS;

/// Median, smallest and largest of `values`.
fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// The per-round figures of `setup` for step size index `w`: what it added
/// per step over the no-subscriber child, in wall and CPU nanoseconds, and
/// the baseline's own cost per step.
fn added(results: &[Vec<Value>], setup: usize, w: usize, key: &str) -> Vec<(f64, f64)> {
    results[setup]
        .iter()
        .zip(&results[0])
        .map(|(with, without)| {
            let of = |r: &Value| r["pipeline"][w][key].as_f64().unwrap_or(f64::NAN);
            (of(with) - of(without), of(without))
        })
        .collect()
}

/// Prints the tables, writes `results.json` and `overhead.svg` in `dir`.
pub fn report(results: &[Vec<Value>], per_us: f64, full: bool, dir: &Path) {
    let rounds = results[0].len();
    println!(
        "\nwhole-program overhead, {rounds} round(s){}; spin: {per_us:.1} iterations/µs",
        if full {
            ""
        } else {
            " (test mode: too short to read)"
        }
    );
    let mut summary = Vec::new();
    for (w, us) in WORK_US.iter().enumerate() {
        println!(
            "\npipeline, 10 steps of ~{us} µs, 1 span + 2 events per step (ns added per step; median [min..max])"
        );
        println!(
            "{:<58} {:>26} {:>26} {:>9}",
            "set-up", "wall", "CPU (all threads)", "CPU %"
        );
        for (s, setup) in SETUPS.iter().enumerate() {
            let wall = added(results, s, w, "wall_ns_per_step");
            let cpu = added(results, s, w, "cpu_ns_per_step");
            let (wall_m, wall_lo, wall_hi) =
                stats(&mut wall.iter().map(|p| p.0).collect::<Vec<_>>());
            let (cpu_m, cpu_lo, cpu_hi) = stats(&mut cpu.iter().map(|p| p.0).collect::<Vec<_>>());
            let (base, _, _) = stats(&mut cpu.iter().map(|p| p.1).collect::<Vec<_>>());
            let percent = 100.0 * cpu_m / base;
            println!(
                "{:<58} {:>8.0} [{:>6.0}..{:>6.0}] {:>8.0} [{:>6.0}..{:>6.0}] {:>8.1}%",
                setup.about, wall_m, wall_lo, wall_hi, cpu_m, cpu_lo, cpu_hi, percent
            );
            summary.push(json!({
                "setup": setup.name, "work_us": us,
                "wall_ns_added": {"median": wall_m, "min": wall_lo, "max": wall_hi},
                "cpu_ns_added": {"median": cpu_m, "min": cpu_lo, "max": cpu_hi},
                "cpu_overhead_percent": percent, "baseline_cpu_ns_per_step": base,
            }));
        }
    }
    let breakdown = breakdown(results);
    println!(
        "\nproduction preset, CPU ns per step by part (~10 µs steps; medians of per-round differences)"
    );
    for (part, ns) in &breakdown {
        println!("  {part:<46} {ns:>8.0}");
    }
    println!("\naxum hello world, loopback load generator in the same process");
    println!(
        "{:<58} {:>10} {:>9} {:>9} {:>12}",
        "set-up", "req/s", "p50 µs", "p99 µs", "CPU µs/req"
    );
    let mut http = Vec::new();
    for (s, setup) in SETUPS.iter().enumerate().filter(|(_, s)| s.http) {
        let field = |key: &str| {
            stats(
                &mut results[s]
                    .iter()
                    .map(|r| r["http"][key].as_f64().unwrap_or(f64::NAN))
                    .collect::<Vec<_>>(),
            )
            .0
        };
        let row = [
            field("requests_per_s"),
            field("p50_us"),
            field("p99_us"),
            field("cpu_us_per_request"),
        ];
        println!(
            "{:<58} {:>10.0} {:>9.0} {:>9.0} {:>12.1}",
            setup.about, row[0], row[1], row[2], row[3]
        );
        http.push(
            json!({"setup": setup.name, "requests_per_s": row[0], "p50_us": row[1],
            "p99_us": row[2], "cpu_us_per_request": row[3]}),
        );
    }
    let document = json!({
        "rounds": rounds, "full": full, "spin_iterations_per_us": per_us,
        "pipeline": summary, "preset_breakdown_cpu_ns_per_step": breakdown
            .iter().map(|(part, ns)| json!({"part": part, "ns": ns})).collect::<Vec<_>>(),
        "http": http, "raw": results,
    });
    // A test-mode run does not overwrite the figures of the last full run.
    let prefix = if full { "" } else { "test-" };
    let json_path = dir.join(format!("{prefix}results.json"));
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&document).expect("JSON"),
    )
    .expect("results.json is writable");
    let svg_path = dir.join(format!("{prefix}overhead.svg"));
    plot(results, &svg_path).expect("the plot is drawn");
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
}

/// What each part of the preset adds per ~10 µs step, in CPU nanoseconds:
/// the difference between set-ups that differ by that part.
fn breakdown(results: &[Vec<Value>]) -> Vec<(&'static str, f64)> {
    let index = |name: &str| {
        SETUPS
            .iter()
            .position(|s| s.name == name)
            .expect("a set-up")
    };
    let median_delta = |a: &str, b: &str| {
        let (a, b) = (index(a), index(b));
        let mut deltas: Vec<f64> = results[a]
            .iter()
            .zip(&results[b])
            .map(|(a, b)| {
                let of = |r: &Value| {
                    r["pipeline"][0]["cpu_ns_per_step"]
                        .as_f64()
                        .unwrap_or(f64::NAN)
                };
                of(a) - of(b)
            })
            .collect();
        stats(&mut deltas).0
    };
    vec![
        (
            "span metrics (+ Prometheus recorder)",
            median_delta("metrics", "none"),
        ),
        ("+ JSON logs", median_delta("json", "metrics")),
        ("+ OTLP spans", median_delta("otlp_spans", "json")),
        ("+ OTLP logs", median_delta("otlp_logs", "otlp_spans")),
        (
            "+ OTLP metrics, log filter, rest of the preset",
            median_delta("preset_no_resources", "otlp_logs"),
        ),
        (
            "+ per-step CPU time and system metrics",
            median_delta("preset", "preset_no_resources"),
        ),
        ("= the preset", median_delta("preset", "none")),
    ]
}

/// Bars of CPU time added per step by set-ups 1 to 4, for each step size.
fn plot(results: &[Vec<Value>], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    const SHOWN: [usize; 4] = [0, 1, 2, 3];
    const LABELS: [&str; 4] = ["1. none", "2. preset", "3. by hand", "4. span metrics"];
    let bars: Vec<[f64; 2]> = SHOWN
        .iter()
        .map(|&s| {
            std::array::from_fn(|w| {
                let mut cpu: Vec<f64> = added(results, s, w, "cpu_ns_per_step")
                    .iter()
                    .map(|p| p.0)
                    .collect();
                stats(&mut cpu).0.max(0.0)
            })
        })
        .collect();
    let top = bars.iter().flatten().copied().fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "CPU time added per pipeline step (ns, all threads)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..SHOWN.len() as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(SHOWN.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = *x - 0.5;
            if i >= 0.0 && i.fract().abs() < 1e-9 && (i as usize) < LABELS.len() {
                LABELS[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .y_desc("ns per step")
        .draw()?;
    let colours = [RGBColor(70, 130, 180), RGBColor(230, 140, 50)];
    for (w, colour) in colours.into_iter().enumerate() {
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let left = i as f64 + 0.1 + 0.4 * w as f64;
                Rectangle::new([(left, 0.0), (left + 0.38, bar[w])], colour.filled())
            }))?
            .label(format!("~{} µs steps", WORK_US[w]))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
