//! The dashboard's charts, drawn with plotters' SVG backend into strings the HTML template
//! inlines: findings per category, the trend over past runs, and where missing access
//! concentrates.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
    let names: Vec<&str> = list
        .iter()
        .map(|r| {
            if r.label.is_empty() {
                r.id.as_str()
            } else {
                r.label.as_str()
            }
        })
        .collect();
    let counts: Vec<usize> = list.iter().map(|r| r.missing).collect();
    bars(&names, &counts, false).map(Some)
}

/// Width of the bar charts' label column, in pixels.
const LABEL_AREA: u32 = 230;
/// Characters of a label line: the label column holds this many at [`LABEL`] px, so a name is
/// wrapped onto lines, never cut.
const LABEL_LINE: usize = 23;
/// Pixels between two label lines.
const LINE_HEIGHT: i32 = 19;

/// A label broken into whole lines of at most [`LABEL_LINE`] characters: at spaces, and inside
/// a word only where the word alone is longer than a line.
pub fn label_lines(label: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in label.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        let taken = line.chars().count();
        if taken > 0 && taken + 1 + word.len() <= LABEL_LINE {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if taken > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > LABEL_LINE {
            lines.push(word.drain(..LABEL_LINE).collect());
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// How many ticks an axis `pixels` long can hold for values up to `max` without their labels
/// touching (a digit is about 0.6 of the font size).
pub fn tick_count(pixels: u32, max: u32, font: u32) -> usize {
    let digits = max.max(1).to_string().len() as u32;
    let label = digits * font * 6 / 10 + font;
    (pixels / label.max(1)).clamp(2, 8) as usize
}

/// Horizontal bars, one per name, labelled with its count (the page's figure caption names
/// the chart). Names are drawn whole, wrapped onto as many lines as they need.
fn bars(names: &[&str], counts: &[usize], by_category: bool) -> Result<String, String> {
    let wrapped: Vec<Vec<String>> = names.iter().map(|n| label_lines(n)).collect();
    let most_lines = wrapped.iter().map(Vec::len).max().unwrap_or(1) as u32;
    let row = (most_lines * LINE_HEIGHT as u32 + 14).max(40);
    let height = 40 + row * names.len() as u32;
    let mut svg = String::new();
    let drawn: Drawn = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = counts.iter().copied().max().unwrap_or(0).max(1) as u32;
        let rows = names.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(0u32..max + max / 8 + 1, (0u32..rows).into_segmented())?;
        let plot_width = WIDTH - 20 - LABEL_AREA;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(tick_count(plot_width, max + max / 8 + 1, LABEL))
            .y_labels(rows as usize)
            .y_label_formatter(&|_| String::new())
            .label_style((FONT, LABEL))
            .draw()?;
        // The names, first on top as the cards and the ranked lists read, each line whole.
        let style = TextStyle::from((FONT, LABEL).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, lines) in wrapped.iter().enumerate() {
            let at = rows - 1 - i as u32;
            let (x, y) = chart.backend_coord(&(0, SegmentValue::CenterOf(at)));
            let first = y - (lines.len() as i32 - 1) * LINE_HEIGHT / 2;
            for (n, line) in lines.iter().enumerate() {
                root.draw(&Text::new(
                    line.clone(),
                    (x - 8, first + n as i32 * LINE_HEIGHT),
                    style.clone(),
                ))?;
            }
        }
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
            // The last run's date is centred on the right edge: room for its second half.
            .margin_right(50)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0u32..runs - 1, 0u32..max + max / 8 + 1)?;
        chart
            .configure_mesh()
            .x_labels(points.len().min(4))
            .y_labels(tick_count(320 - 48, max + max / 8 + 1, LABEL - 2))
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
            for line in label_lines(name) {
                assert!(svg.contains(&line), "{name}: {line}");
            }
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
            .map(|l| y_of(&label_lines(l)[0]))
            .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "top to bottom: {ys:?}");
        let top = top_packages(&summary([1, 0, 0, 0, 0])).unwrap().unwrap();
        assert!(!top.contains("<b>"), "labels are escaped by the backend");
        assert!(top.contains("&lt;b&gt;") || top.contains("&#60;b&#62;"));
    }

    #[test]
    fn labels_wrap_whole_and_ticks_leave_room_at_every_size() {
        assert_eq!(
            label_lines("Engineering Platform Access"),
            ["Engineering Platform", "Access"]
        );
        let url = "https://contoso.sharepoint.com/sites/SalesEnablement";
        let lines = label_lines(url);
        assert_eq!(lines.concat(), url, "nothing is cut");
        assert!(lines.iter().all(|l| l.chars().count() <= LABEL_LINE));
        assert_eq!(label_lines(""), [""]);
        // small, medium and large tenants' counts on the bar charts' axis.
        for max in [9, 1_400, 30_000] {
            let n = tick_count(WIDTH - 20 - LABEL_AREA, max, LABEL) as u32;
            let digits = max.to_string().len() as u32;
            let room = (WIDTH - 20 - LABEL_AREA) / n;
            assert!(
                room >= digits * LABEL * 6 / 10 + LABEL / 2,
                "{max}: {n} ticks"
            );
        }
        // A long package name is drawn whole, on lines of its own.
        let mut long = summary([1, 0, 0, 0, 0]);
        long.top_packages[0].label = "Engineering Platform Access for Contractors".into();
        let svg = top_packages(&long).unwrap().unwrap();
        assert!(svg.contains("Engineering Platform"), "{svg}");
        assert!(svg.contains("Access for Contractors"));
        assert!(!svg.contains('…'));
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
