//! The HTML report in a real browser: headless Chromium loads it, must log nothing to the console,
//! and must find charts with content; scenario strings must render as text.

mod common;

use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOSTILE: &str = r#"
name = "<script>alert(1)</script>"
description = "<img src=x onerror=alert(2)> & friends"
duration = "60s"
warmup = "5s"
interval = "5s"

[regions."<b>east</b>"]
replicas = 2
instance = "g5.xlarge@us-east-1"

[regions.west]
replicas = 2
instance = "g5.xlarge@us-east-1"

[network]
links = [{ from = "<b>east</b>", to = "west", rtt = "30ms" }]

[[traffic]]
origin = "<b>east</b>"
arrivals = { process = "poisson", rate = "300/s" }

[[traffic]]
origin = "west"
arrivals = { process = "poisson", rate = "200/s" }

[serving]
service_time = { kind = "table", points = [[1, "3ms"], [8, "8ms"]], cv = 0.1 }
batching = { max_batch = 8, max_queue_delay = "2ms" }

[slo]
latency = [{ percentile = 99, max = "40ms" }]
"#;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        found.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
    })
}

fn headless(browser: &Path, profile: &Path, extra: &[&str], url: &str) -> Output {
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let profile = format!("--user-data-dir={}", profile.display());
    args.push(&profile);
    args.extend_from_slice(extra);
    args.push(url);
    Command::new(browser).args(&args).output().expect("the browser starts")
}

#[test]
fn report_is_self_contained_and_escapes_scenario_strings() {
    let dir = scratch("escape");
    let scenario = dir.join("hostile.toml");
    std::fs::write(&scenario, HOSTILE).unwrap();
    let out = dir.join("out");
    let run = servesim(&["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<script"), "a scenario string became markup");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>east"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;east&lt;/b&gt;"));
    // Self-contained: no tag loads anything (escaped text has no raw '<', so tags are exactly the
    // '<'…'>' spans), and the stylesheet imports nothing.
    for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or("")) {
        for attribute in ["src=", "href=", "rel=", "srcset="] {
            assert!(!tag.contains(attribute), "report refers outside itself: <{tag}>");
        }
    }
    for needle in ["@import", "url(", "<link", "<iframe", "<object"] {
        assert!(!html.contains(needle), "report refers outside itself: {needle}");
    }
    let cdf = std::fs::read_to_string(out.join("latency_cdf.csv")).unwrap();
    assert!(cdf.starts_with("region,latency_ms,fraction"));
    assert!(cdf.contains("\"<b>east</b>\"") || cdf.contains("<b>east</b>"));
}

/// The text of a page's markup: tags dropped, the few entities the report writes undone.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    for (k, piece) in html.split('<').enumerate() {
        text.push_str(if k == 0 { piece } else { piece.split_once('>').map_or("", |(_, rest)| rest) });
    }
    text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'")
}

/// The cells of the first table after `heading` in `html`, row by row; every row must have as
/// many cells as the header has titles.
fn table_after(html: &str, heading: &str) -> Vec<Vec<String>> {
    let start = html.find(heading).unwrap_or_else(|| panic!("no {heading:?} in the page"));
    let table = &html[start..];
    let table = &table[table.find("<table").expect("a table follows")..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let titles = table.split("<tr").nth(1).map_or(0, |header| header.matches("<th").count());
    let rows: Vec<Vec<String>> = table
        .split("<tr")
        .skip(1)
        .map(|row| row.split("<td").skip(1).map(|cell| text_of(&format!("<td{cell}")).trim().to_string()).collect())
        .filter(|cells: &Vec<String>| !cells.is_empty())
        .collect();
    for row in &rows {
        assert_eq!(row.len(), titles, "{heading}: a row does not match its header: {row:?}");
    }
    rows
}

/// What a plan's page must say of its choice (issue 21, item 18): one true sentence naming the
/// chosen point and the cheaper ones ruled out, each of those marked with its risk, the plan's
/// fleet (not the scenario's description) as the headline, and short verdict cells.
fn check_plan_story(html: &str, best_toml: &str) {
    let chosen: usize = best_toml
        .lines()
        .next()
        .and_then(|l| l.split("(point ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .expect("best.toml names its point");
    let replicas = best_toml
        .lines()
        .find_map(|l| l.strip_prefix("replicas = "))
        .expect("best.toml sets the region's replicas")
        .trim()
        .to_string();
    let text = text_of(html);
    assert!(text.contains(&format!("Chosen: point {chosen} ({replicas} × g5.xlarge in us-east)")), "{text}");
    assert!(text.contains(&format!("Plan: {replicas} × g5.xlarge in us-east")), "the headline is the plan's fleet");
    assert!(
        text.contains("The scenario as written: bert-base classifier, 6 x g5.xlarge"),
        "the description is labelled"
    );

    // The alternatives in rank order: everything above the chosen one is ruled out by a named risk,
    // and the sentence counts exactly those.
    let alternatives = table_after(html, "Best alternatives");
    let position =
        alternatives.iter().position(|row| row[1] == chosen.to_string()).expect("the chosen point is listed");
    assert_eq!(alternatives[position][2], "chosen");
    for row in &alternatives[..position] {
        assert!(row[2].starts_with("ruled out: breaks with "), "a cheaper point without its reason: {row:?}");
    }
    for row in &alternatives[position + 1..] {
        assert!(!row[2].starts_with("ruled out"), "a dearer point ruled out: {row:?}");
    }
    let sentence = match position {
        0 => "the cheapest that does".to_string(),
        1 => "the 1 cheaper one that meets the SLO breaks under a risk".to_string(),
        n => format!("the {n} cheaper ones that meet the SLO break under a risk"),
    };
    assert!(text.contains(&sentence), "the sentence does not count the ruled-out points ({sentence:?}): {text}");

    // The risks table: one region, so no region-loss column; verdicts short, reasons on demand.
    let survives = &html[html.find("What the choice survives").expect("a risks section")..];
    let header = &survives[survives.find("<table").unwrap()..survives.find("</tr>").unwrap()];
    assert!(!header.contains("region down"), "a one-region scenario judged on losing its region");
    let rows = table_after(html, "What the choice survives");
    assert!(rows.len() <= position + 2, "{} rows for {} ruled out, the chosen and the runner-up", rows.len(), position);
    // Every cell but the parameters (column 3) is a verdict or a margin.
    for cell in rows.iter().flat_map(|row| row.iter().enumerate().filter(|&(k, _)| k != 2).map(|(_, c)| c)) {
        assert!(cell.chars().count() <= 40, "a verdict cell too long to scan: {cell:?}");
    }
    if rows.iter().flatten().any(|c| c == "breaks") {
        assert!(html.contains("<details><summary>Why each “breaks” breaks"), "the reasons are not on the page");
    }
}

#[test]
fn report_loads_in_a_real_browser_with_charts_and_no_console_errors() {
    let dir = scratch("browser");
    let out = dir.join("out");
    // The plan of the bundled quickstart: sweep, choice, full run, report (README's first command).
    let scenario = repo("scenarios/quickstart.toml");
    let run = servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    check_plan_story(&html, &std::fs::read_to_string(out.join("best.toml")).unwrap());
    let Some(browser) = chromium() else {
        assert!(std::env::var("CI").is_err(), "CI must install Debian's chromium (see .ci/run)");
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let url = format!("file://{}", out.join("report.html").display());

    let dom = headless(&browser, &dir.join("profile-dom"), &["--dump-dom"], &url);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let console: Vec<String> =
        String::from_utf8_lossy(&dom.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("quickstart"));
    assert!(dom.contains("How this configuration was chosen"));
    // What the browser shows tells the same story as the file.
    check_plan_story(&dom, &std::fs::read_to_string(out.join("best.toml")).unwrap());
    // Nine charts (Pareto, latency CDF, batch sizes, the breakdown's two, three time series,
    // cost), each with content.
    assert_eq!(dom.matches("<svg").count(), 9, "charts in the page");
    assert!(dom.matches("<circle").count() >= 36, "the Pareto chart lacks its 36 points");
    let long_lines = dom
        .split("<polyline")
        .skip(1)
        .filter(|p| p.split("points=\"").nth(1).is_some_and(|pts| pts.split(' ').count() > 20))
        .count();
    assert!(long_lines >= 5, "only {long_lines} lines with data");
    assert!(dom.matches("<rect").count() > 10, "bars are missing");

    let shot = dir.join("report.png");
    let screenshot = headless(
        &browser,
        &dir.join("profile-shot"),
        &[&format!("--screenshot={}", shot.display()), "--window-size=1400,2600"],
        &url,
    );
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1400×2600 page compresses to a few kilobytes; the report with its charts does not.
    assert!(png.len() > 100_000, "screenshot is {} bytes: page looks empty", png.len());
}

#[test]
fn job_llm_and_compare_pages_load_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(std::env::var("CI").is_err(), "CI must install Debian's chromium (see .ci/run)");
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let dir = scratch("browser-jobs");
    let run = dir.join("run");
    let compare = dir.join("compare");
    let llm = dir.join("llm");
    for (args, out) in [
        (vec!["run", "scenarios/churn-nightly.toml"], &run),
        (vec!["compare", "scenarios/churn-compare.toml"], &compare),
        (vec!["run", "scenarios/llm-chat.toml"], &llm),
    ] {
        let scenario = repo(args[1]);
        let done = servesim(&[args[0], &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    }
    // The LLM page: latency, TTFT and TPOT CDFs, batch sizes, the breakdown's two, seven time
    // series, cost.
    for (page, charts, text) in [
        (run.join("report.html"), 3, "Batch jobs"),
        (compare.join("compare.html"), 2, "edge (on the client"),
        (llm.join("report.html"), 14, "Time per output token CDF"),
    ] {
        let url = format!("file://{}", page.display());
        let dom = headless(&browser, &dir.join(format!("profile-{charts}")), &["--dump-dom"], &url);
        assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
        let console: Vec<String> =
            String::from_utf8_lossy(&dom.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
        assert!(console.is_empty(), "{}: console messages: {console:?}", page.display());
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.contains(text), "{}", page.display());
        assert_eq!(dom.matches("<svg").count(), charts, "{}", page.display());
        assert!(!dom.contains(": no data"), "{}: a chart without data", page.display());
    }
    // The job's timeline: the records-written line climbs to 10 M over more than 50 points.
    let dom = headless(
        &browser,
        &dir.join("profile-timeline"),
        &["--dump-dom"],
        &format!("file://{}", run.join("report.html").display()),
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let long_lines = dom
        .split("<polyline")
        .skip(1)
        .filter(|p| p.split("points=\"").nth(1).is_some_and(|pts| pts.split(' ').count() > 50))
        .count();
    assert!(long_lines >= 3, "only {long_lines} timeline lines with data");
}

/// An LLM run's TTFT and TPOT distributions: `token_cdf.csv` holds them (monotone, ending at every
/// completion, its p50 and p99 those of `summary.json`), the report draws both, and `servesim
/// report` redraws the same page from the files alone.
#[test]
fn llm_report_shows_ttft_and_tpot_distributions() {
    let dir = scratch("llm-report");
    let out = dir.join("out");
    let scenario = repo("scenarios/llm-chat.toml");
    let run = servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let llm = &summary["regions"]["us-east"]["llm"];
    let csv = std::fs::read_to_string(out.join("token_cdf.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("metric,deployment,ms,fraction"));
    let rows: Vec<(String, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[1], "us-east", "{l}");
            (f[0].to_string(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    for (metric, key) in [("ttft", "ttft_ms"), ("tpot", "tpot_ms")] {
        let points: Vec<(f64, f64)> = rows.iter().filter(|r| r.0 == metric).map(|r| (r.1, r.2)).collect();
        assert!(points.len() > 20, "{metric}: {} points", points.len());
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1), "{metric} is not monotone");
        assert_eq!(points.last().unwrap().1, 1.0);
        let at = |q: f64| points.iter().find(|p| p.1 == q).unwrap().0;
        for (q, p) in [(0.5, "p50"), (0.99, "p99")] {
            let stated = llm[key][p].as_f64().unwrap();
            assert!((at(q) - stated).abs() < 1e-9, "{metric} {p}: CDF {} vs summary {stated}", at(q));
        }
        assert!((points.last().unwrap().0 - llm[key]["max"].as_f64().unwrap()).abs() < 1e-9);
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for title in ["Time to first token CDF", "Time per output token CDF"] {
        assert!(html.contains(title), "the report lacks {title}");
    }
    let again = servesim(&["report", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read_to_string(out.join("report.html")).unwrap(), html, "report redrawn differently");
}
