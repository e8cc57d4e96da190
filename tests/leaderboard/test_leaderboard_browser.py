"""The HTML leaderboard as a browser shows it: headless Chromium renders it, we measure the pixels.

A page can be valid HTML and still show nothing (a CSS slip, an image that does
not decode), so this test screenshots the page and checks that the table and
the trade-off plot occupy non-blank regions, located by the browser itself.
Chromium comes from tools/install-browser.sh; without it the test skips, except
under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.helpers.results import write_standard_results
from vpbench.leaderboard import write_leaderboard

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1200, 1600
SLUG = "known--synth-hmdb51"

# Runs after the images decode; the browser's own layout boxes go into the DOM that --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", function () {
  var out = {};
  ["table-%(slug)s", "plot-%(slug)s"].forEach(function (id) {
    var r = document.getElementById(id).getBoundingClientRect();
    out[id] = [r.left, r.top, r.width, r.height];
  });
  out.plot_natural_width = document.getElementById("plot-%(slug)s").naturalWidth;
  document.body.setAttribute("data-probe", JSON.stringify(out));
});
</script>""" % {"slug": SLUG}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not on PATH (CI must run tools/install-browser.sh first)")
    pytest.skip("chromium is not on PATH (tools/install-browser.sh installs it)")


def _run_chromium(browser: str, tmp_path, page, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"  # a fresh profile per run
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--virtual-time-budget=5000",
        *args,
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _screenshot(browser, tmp_path, page, name) -> np.ndarray:
    from PIL import Image

    png = tmp_path / name
    _run_chromium(browser, tmp_path, page, f"--screenshot={png}")
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)


def _region(image: np.ndarray, box) -> np.ndarray:
    left, top, width, height = (int(round(v)) for v in box)
    return image[top : top + height, left : left + width]


def test_html_leaderboard_shows_its_table_and_plot_in_a_browser(tmp_path):
    browser = _chromium()
    write_standard_results(tmp_path / "results")
    out = tmp_path / "lb"
    write_leaderboard(tmp_path / "results", out)
    page = out / "leaderboard.html"
    probe = out / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))

    dom = _run_chromium(browser, tmp_path, probe, "--dump-dom").stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe script did not run"
    boxes = json.loads(html.unescape(found.group(1)))

    # The table text, as the browser parsed it.
    table = dom[dom.index(f'id="table-{SLUG}"') : dom.index("</table>", dom.index(f'id="table-{SLUG}"'))]
    for text in (
        "Rank",
        "Front",
        "Top-1 %",
        "cMAP %",
        "stprivacy (keep_ratio=0.5)",
        "downsample-4x",
        "★ 1",
        "70.0",
        "49.0",
        "ref",
    ):
        assert text in html.unescape(table), text
    assert boxes["plot_natural_width"] > 0, "the trade-off plot did not decode"

    shot = _screenshot(browser, tmp_path, page, "page.png")
    blank_page = tmp_path / "blank.html"
    blank_page.write_text("<!DOCTYPE html><html><body></body></html>")
    blank = _screenshot(browser, tmp_path, blank_page, "blank.png")
    assert shot.shape == blank.shape == (HEIGHT, WIDTH, 3)

    for key, min_height in ((f"table-{SLUG}", 150), (f"plot-{SLUG}", 300)):
        left, top, width, height = boxes[key]
        assert width > 400 and height > min_height, (key, boxes[key])
        assert top + height <= HEIGHT, f"{key} is below the first screen: {boxes[key]}"
        ours, empty = _region(shot, boxes[key]), _region(blank, boxes[key])
        assert empty.std() < 1.0, "the blank page is not blank"
        assert ours.std() > 20.0, f"{key} region is blank (pixel std {ours.std():.1f})"
        assert (np.abs(ours - empty).max(axis=-1) > 60).mean() > 0.02, f"{key} region has almost no ink"
