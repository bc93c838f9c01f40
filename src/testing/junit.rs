//! Test outcomes as JUnit XML, the report format CI systems read: one
//! `testsuite` per test file, one `testcase` per test, a `failure` holding the
//! differences or an `error` holding the diagnostics.

use super::{Outcome, Status};
use crate::diagnostics::render::{self, Format, Style};
use crate::source::SourceSet;
use crate::span::line_col;

/// The report for `outcomes` (in run order); `suite` names the project.
pub fn report(suite: &str, outcomes: &[Outcome], sources: &SourceSet, timestamp: &str) -> String {
    let count =
        |f: fn(&Status) -> bool, os: &[&Outcome]| os.iter().filter(|o| f(&o.status)).count();
    let failed = |s: &Status| matches!(s, Status::Failed(..));
    let errored = |s: &Status| matches!(s, Status::Error(_));
    let secs = |os: &[&Outcome]| os.iter().map(|o| o.elapsed.as_secs_f64()).sum::<f64>();
    let all: Vec<&Outcome> = outcomes.iter().collect();
    let mut files: Vec<_> = Vec::new();
    for o in outcomes {
        if !files.contains(&o.file) {
            files.push(o.file);
        }
    }
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">\n",
        escape(suite),
        all.len(),
        count(failed, &all),
        count(errored, &all),
        secs(&all)
    ));
    for (id, file) in files.iter().enumerate() {
        let name = &sources.get(*file).name;
        let cases: Vec<&Outcome> = outcomes.iter().filter(|o| o.file == *file).collect();
        x.push_str(&format!(
            "  <testsuite name=\"{}\" id=\"{id}\" package=\"{}\" hostname=\"localhost\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">\n",
            escape(name),
            escape(suite),
            cases.len(),
            count(failed, &cases),
            count(errored, &cases),
            secs(&cases),
            escape(timestamp),
        ));
        let classname = format!("{suite}.{}", stem(name));
        for o in cases {
            let (line, _) = line_col(&sources.get(o.file).text, o.span.start as usize);
            x.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{line}\" time=\"{:.3}\"",
                escape(&o.name),
                escape(&classname),
                escape(name),
                o.elapsed.as_secs_f64()
            ));
            match &o.status {
                Status::Passed => x.push_str("/>\n"),
                Status::Failed(message, lines) => {
                    let mut body = message.clone();
                    for l in lines {
                        body.push('\n');
                        body.push_str(l);
                    }
                    x.push_str(&format!(
                        ">\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>\n",
                        escape(message),
                        escape(&body)
                    ));
                }
                Status::Error(diags) => {
                    let text = render::render(
                        diags,
                        sources,
                        Format::Human,
                        Style {
                            color: false,
                            unicode: false,
                        },
                    );
                    let first = diags.first();
                    x.push_str(&format!(
                        ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n",
                        escape(&first.map_or(String::new(), |d| d.message.clone())),
                        first.map_or("error", |d| d.code.as_str()),
                        escape(&text)
                    ));
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// `metrics/tests/acquisition.test.yaml` -> `acquisition`.
fn stem(path: &str) -> &str {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    file.split('.').next().unwrap_or(file)
}

/// Text for XML attributes and content; characters XML 1.0 cannot hold are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}
