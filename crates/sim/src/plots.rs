//! SVG plots: reachability over time with churn marked, overhead over time, and a
//! histogram of convergence times.

use std::path::Path;

use plotters::prelude::*;

use crate::sim::Sim;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Writes reachability.svg, overhead.svg and convergence.svg into `dir`.
pub fn write_all(sim: &Sim, dir: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let p = dir.join("reachability.svg");
    reachability(sim, &p)?;
    out.push(p.display().to_string());
    let p = dir.join("overhead.svg");
    overhead(sim, &p)?;
    out.push(p.display().to_string());
    let p = dir.join("convergence.svg");
    convergence(sim, &p)?;
    out.push(p.display().to_string());
    Ok(out)
}

fn reachability(sim: &Sim, path: &Path) -> Result<(), String> {
    let end = sim.end_us() as f64 / 1e6;
    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: reachable connected pairs", sim.sc.name),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end.max(1e-3), 0f64..100.5f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("reachable pairs (%)")
        .draw()
        .map_err(err)?;
    for c in &sim.churn {
        let t = c.at_us as f64 / 1e6;
        chart
            .draw_series(LineSeries::new(vec![(t, 0.0), (t, 100.5)], RED.mix(0.35)))
            .map_err(err)?;
    }
    let pts: Vec<(f64, f64)> = sim
        .samples
        .iter()
        .filter(|s| s.counts.connected > 0)
        .map(|s| {
            let c = s.counts;
            let pct =
                100.0 * (c.connected - c.broken().min(c.connected)) as f64 / c.connected as f64;
            (s.at_us as f64 / 1e6, pct)
        })
        .collect();
    chart
        .draw_series(LineSeries::new(pts, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("reachable (%)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -10.0), (0.0, -10.0)],
            RED,
        )))
        .map_err(err)?
        .label("churn event")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn overhead(sim: &Sim, path: &Path) -> Result<(), String> {
    let n = sim.topo.n.max(1) as f64;
    let pts: Vec<(f64, f64)> = sim
        .sent_per_second
        .iter()
        .enumerate()
        .map(|(s, &b)| (s as f64, b as f64 / n))
        .collect();
    let ymax = pts.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let end = (pts.len() as f64).max(1.0);
    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: control traffic sent per node", sim.sc.name),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("bytes/s per node")
        .draw()
        .map_err(err)?;
    for c in &sim.churn {
        let t = c.at_us as f64 / 1e6;
        chart
            .draw_series(LineSeries::new(vec![(t, 0.0), (t, ymax)], RED.mix(0.25)))
            .map_err(err)?;
    }
    chart.draw_series(LineSeries::new(pts, BLUE)).map_err(err)?;
    root.present().map_err(err)
}

fn convergence(sim: &Sim, path: &Path) -> Result<(), String> {
    let times: Vec<f64> = sim
        .churn
        .iter()
        .filter_map(|c| c.converged_after_us.map(|u| u as f64 / 1e6))
        .collect();
    let max = times.iter().copied().fold(1.0f64, f64::max);
    let bins = 30u32;
    let width = max / bins as f64;
    let mut counts = vec![0u32; bins as usize + 1];
    for t in &times {
        counts[((t / width) as usize).min(bins as usize)] += 1;
    }
    let ymax = counts.iter().copied().max().unwrap_or(0).max(1) + 1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: convergence after churn ({} events)",
                sim.sc.name,
                times.len()
            ),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0u32..bins).into_segmented(), 0u32..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(format!("convergence time (bins of {width:.2} s)"))
        .y_desc("events")
        .x_label_formatter(&|v| match v {
            SegmentValue::Exact(b) | SegmentValue::CenterOf(b) => {
                format!("{:.1}", *b as f64 * width)
            }
            SegmentValue::Last => String::new(),
        })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.6).filled())
                .margin(1)
                .data(
                    times
                        .iter()
                        .map(|t| (((t / width) as u32).min(bins - 1), 1u32)),
                ),
        )
        .map_err(err)?;
    root.present().map_err(err)
}
