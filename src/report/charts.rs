//! The dashboard's charts, drawn with plotters' SVG backend into strings the HTML template
//! inlines: findings per category, the trend over past runs, and where missing access
//! concentrates.

use plotters::prelude::*;

use super::xlsx_history::TrendPoint;
use crate::audit::summary::{Ranked, Summary};

/// One colour per category, in report order (also the workbook's tab colours).
pub const CATEGORY_COLOURS: [(u8, u8, u8); 5] = [
    (0xC0, 0x39, 0x2B),
    (0x8E, 0x44, 0xAD),
    (0x7F, 0x8C, 0x8D),
    (0xD3, 0x54, 0x00),
    (0x24, 0x71, 0xA3),
];

/// Drawn small and with large text: the page shows three charts side by side, scaled down.
const WIDTH: u32 = 520;
const LABEL: u32 = 17;
const FONT: &str = "sans-serif";

fn colour(i: usize) -> RGBColor {
    let (r, g, b) = CATEGORY_COLOURS[i % CATEGORY_COLOURS.len()];
    RGBColor(r, g, b)
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Findings per category, one bar each, in the cards' words and order.
pub fn categories(summary: &Summary) -> Result<String, String> {
    let names: Vec<&str> = summary
        .categories
        .iter()
        .map(|c| {
            crate::audit::CATEGORIES
                .iter()
                .position(|known| *known == c.category)
                .map_or(c.category, |i| crate::audit::CATEGORY_TITLES[i])
        })
        .collect();
    let counts: Vec<usize> = summary.categories.iter().map(|c| c.findings).collect();
    bars(&names, &counts, true)
}

/// Packages with most missing access (the summary's top list); `None` when there is none.
pub fn top_packages(summary: &Summary) -> Result<Option<String>, String> {
    ranked(&summary.top_packages)
}

/// Resources with most missing access; `None` when there is none.
pub fn top_resources(summary: &Summary) -> Result<Option<String>, String> {
    ranked(&summary.top_resources)
}

fn ranked(list: &[Ranked]) -> Result<Option<String>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    let labels: Vec<String> = list.iter().map(short_label).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let counts: Vec<usize> = list.iter().map(|r| r.missing).collect();
    bars(&names, &counts, false).map(Some)
}

fn short_label(ranked: &Ranked) -> String {
    let label = if ranked.label.is_empty() {
        &ranked.id
    } else {
        &ranked.label
    };
    let mut short: String = label.chars().take(24).collect();
    if label.chars().count() > 24 {
        short.push('…');
    }
    short
}

/// Horizontal bars, one per name, labelled with its count (the page's figure caption names
/// the chart).
fn bars(names: &[&str], counts: &[usize], by_category: bool) -> Result<String, String> {
    let height = 40 + 40 * names.len() as u32;
    let mut svg = String::new();
    let drawn: Drawn = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = counts.iter().copied().max().unwrap_or(0).max(1) as u32;
        let rows = names.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(if by_category { 230 } else { 250 })
            .build_cartesian_2d(0u32..max + max / 8 + 1, (0u32..rows).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows as usize)
            // The first name on top, as the cards and the ranked lists read.
            .y_label_formatter(&|value| match value {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if *i < rows => names
                    .get((rows - 1 - *i) as usize)
                    .copied()
                    .unwrap_or("")
                    .to_string(),
                SegmentValue::CenterOf(_) | SegmentValue::Exact(_) => String::new(),
                SegmentValue::Last => String::new(),
            })
            .label_style((FONT, LABEL))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, count)| {
            let fill = if by_category {
                colour(i)
            } else {
                RGBColor(0xC0, 0x39, 0x2B)
            };
            let i = rows - 1 - i as u32;
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(i)),
                    (*count as u32, SegmentValue::Exact(i + 1)),
                ],
                fill.filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        chart.draw_series(counts.iter().enumerate().map(|(i, count)| {
            Text::new(
                count.to_string(),
                (*count as u32, SegmentValue::CenterOf(rows - 1 - i as u32)),
                (FONT, LABEL).into_font().color(&BLACK),
            )
        }))?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| e.to_string())?;
    Ok(svg)
}

/// One line per category over past runs, oldest first; `None` with fewer than two runs.
pub fn trend(points: &[TrendPoint], names: &[&str]) -> Result<Option<String>, String> {
    if points.len() < 2 {
        return Ok(None);
    }
    let mut svg = String::new();
    let drawn: Drawn = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = points
            .iter()
            .flat_map(|p| p.categories.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1) as u32;
        let runs = points.len() as u32;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0u32..runs - 1, 0u32..max + max / 8 + 1)?;
        chart
            .configure_mesh()
            .x_labels(points.len().min(4))
            .x_label_formatter(&|i| {
                points
                    .get(*i as usize)
                    .map(|p| p.generated_at.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            })
            .label_style((FONT, LABEL - 2))
            .draw()?;
        for (c, name) in names.iter().enumerate() {
            let style = colour(c).stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    points
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (i as u32, p.categories[c] as u32)),
                    style,
                ))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, LABEL - 3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| e.to_string())?;
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::summary::CategoryCount;

    fn summary(counts: [usize; 5]) -> Summary {
        Summary {
            categories: crate::audit::CATEGORIES
                .iter()
                .zip(counts)
                .map(|(category, findings)| CategoryCount {
                    category,
                    findings,
                    in_plan: 0,
                })
                .collect(),
            total: counts.iter().sum(),
            top_packages: vec![Ranked {
                id: "p".into(),
                label: "A <b>package</b> & more".into(),
                missing: 3,
            }],
            top_resources: Vec::new(),
            causes: Vec::new(),
            actor_kinds: Vec::new(),
            actors: Vec::new(),
        }
    }

    #[test]
    fn bars_are_svg_with_every_category_and_escaped_labels() {
        let svg = categories(&summary([6, 1, 2, 2, 3])).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for name in crate::audit::CATEGORY_TITLES {
            assert!(svg.contains(name), "{name}");
        }
        // The cards' order, top to bottom: the first category's label has the smallest y.
        let y_of = |label: &str| -> f64 {
            let end = svg
                .find(&format!(">\n{label}\n<"))
                .or_else(|| svg.find(&format!(">{label}<")))
                .unwrap_or_else(|| panic!("no label {label}"));
            let tag = &svg[svg[..end].rfind("<text").unwrap()..end];
            let at = tag.find(" y=\"").unwrap() + 4;
            tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
        };
        let ys: Vec<f64> = crate::audit::CATEGORY_TITLES
            .iter()
            .map(|l| y_of(l))
            .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "top to bottom: {ys:?}");
        let top = top_packages(&summary([1, 0, 0, 0, 0])).unwrap().unwrap();
        assert!(!top.contains("<b>"), "labels are escaped by the backend");
        assert!(top.contains("&lt;b&gt;") || top.contains("&#60;b&#62;"));
    }

    #[test]
    fn a_trend_needs_two_runs_and_an_empty_tenant_still_draws() {
        assert!(trend(&[], &["a"]).unwrap().is_none());
        let point = |total| TrendPoint {
            run: "r".into(),
            generated_at: chrono::Utc::now(),
            categories: [total, 0, 0, 0, 0],
            total,
            new: 0,
            resolved: 0,
            excepted: 0,
        };
        let names: Vec<&str> = crate::audit::CATEGORY_TITLES.to_vec();
        let svg = trend(&[point(3), point(1)], &names).unwrap().unwrap();
        assert!(svg.contains("Missing access"));
        assert!(categories(&summary([0; 5])).unwrap().starts_with("<svg"));
    }
}
