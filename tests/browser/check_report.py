"""Opens a metricc report in headless Chromium and checks it renders.

Usage: check_report.py REPORT.html SCREENSHOT.png

Fails (exit 1, reasons on stderr) when the page logs a console error or
throws, asks for anything but itself, or has a chart whose SVG is missing,
has no size, or draws no mark (point, bar or cell); a chart with no value
to draw says so instead of drawing (`data-empty`) and is not counted. Prints one JSON
line: the charts checked and their marks. Chromium is Debian's
(/usr/bin/chromium, or $METRICC_CHROMIUM), driven by Playwright.
"""

import json
import os
import pathlib
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every chart, with its size and the marks drawn in it: points (circles)
# and bars or cells (rectangles not white, the background being white),
# each counted only when it has an area on screen; and its labels.
CHARTS = """
() => [...document.querySelectorAll('figure.chart:not([data-empty])')].map(f => {
  const svg = f.querySelector('svg');
  if (!svg) return { metric: f.dataset.metric, svg: false };
  const box = svg.getBoundingClientRect();
  const visible = el => {
    const b = el.getBoundingClientRect();
    return b.width > 0 || b.height > 0;
  };
  const count = sel => [...svg.querySelectorAll(sel)].filter(visible).length;
  const filled = [...svg.querySelectorAll('rect')]
    .filter(r => !/^(#fff(fff)?|white)$/i.test(r.getAttribute('fill') || ''))
    .filter(visible).length;
  return {
    metric: f.dataset.metric,
    svg: true,
    width: box.width,
    height: box.height,
    points: count('circle'),
    rects: filled,
    texts: [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).length,
    rows: f.querySelectorAll('table tbody tr').length,
  };
})
"""


def main() -> int:
    report, screenshot = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
    page_url = report.as_uri()
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("METRICC_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_FLAGS,
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None,
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on(
            "request",
            lambda r: problems.append(f"requested {r.url}")
            if r.url != page_url and not r.url.startswith("data:")
            else None,
        )
        page.goto(page_url, wait_until="load")
        charts = page.evaluate(CHARTS)
        page.screenshot(path=screenshot, full_page=False)
        browser.close()
    if not charts:
        problems.append("no chart on the page")
    for c in charts:
        name = c["metric"]
        if not c["svg"]:
            problems.append(f"{name}: a chart without an SVG")
            continue
        if c["width"] < 200 or c["height"] < 100:
            problems.append(f"{name}: a chart of {c['width']}x{c['height']} px")
        if c["points"] + c["rects"] == 0:
            problems.append(f"{name}: a chart that draws nothing")
        if c["texts"] == 0:
            problems.append(f"{name}: a chart without labels")
        if c["rows"] == 0:
            problems.append(f"{name}: no numbers under the chart")
    print(json.dumps({"charts": len(charts), "problems": problems, "detail": charts}))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
