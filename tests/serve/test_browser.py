"""The drawing page in a real headless Chromium: strokes in, predictions out.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``), driven by
the ``playwright`` package (its own browser download is never used). Screenshots go to the
test's tmp_path, and also to $DIGITREC_TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from pathlib import Path

import pytest

from digitrec.serve.info import HANDWRITING_RECIPE

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# .ci/run installs Chromium and sets DIGITREC_REQUIRE_BROWSER=1: there they must run.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("DIGITREC_REQUIRE_BROWSER"),
    reason="the browser test needs Debian's chromium at /usr/bin/chromium "
    "(apt-get install -y chromium)",
)

# Strokes in canvas fractions (0..1): what a person would draw.
ONE = [[(0.52, 0.14), (0.50, 0.86)]]
ZERO = [
    [
        (0.5 + 0.22 * math.sin(2 * math.pi * k / 48), 0.5 - 0.34 * math.cos(2 * math.pi * k / 48))
        for k in range(49)
    ]
]
SEVEN = [[(0.24, 0.18), (0.76, 0.18), (0.42, 0.86)]]

SETTLED = """() => {
  const r = document.getElementById('result'), p = document.getElementById('pad');
  return r.dataset.version === p.dataset.version && r.dataset.state !== 'empty';
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 900, "height": 640}, has_touch=True)
    page = context.new_page()
    problems: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on(
        "request",
        lambda r: (
            None if r.url.startswith((server.url, "data:", "blob:")) else foreign.append(r.url)
        ),
    )
    page.goto(server.url + "/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")
    yield page
    context.close()
    assert not problems, problems
    assert not foreign, f"the page loaded something we do not serve: {foreign}"


def box(page):
    b = page.locator("#pad").bounding_box()
    return lambda fx, fy: (b["x"] + fx * b["width"], b["y"] + fy * b["height"])


def draw_with_mouse(page, strokes) -> None:
    at = box(page)
    for stroke in strokes:
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for a, b in itertools.pairwise(stroke):
            x0, y0 = at(*a)
            x1, y1 = at(*b)
            steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / 6))
            for i in range(1, steps + 1):
                page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
        page.mouse.up()


def draw_with_finger(page, strokes) -> None:
    """Real touch input through the DevTools protocol (a finger, not a mouse)."""
    at = box(page)
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = []
        for a, b in itertools.pairwise(stroke):
            x0, y0 = at(*a)
            x1, y1 = at(*b)
            points += [(x0 + (x1 - x0) * i / 12, y0 + (y1 - y0) * i / 12) for i in range(12)]
        points.append(at(*stroke[-1]))
        for kind, pts in [("touchStart", points[:1]), *[("touchMove", [p]) for p in points[1:]]]:
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": [{"x": pts[0][0], "y": pts[0][1]}]},
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def shown(page) -> dict:
    page.wait_for_function(SETTLED, timeout=20_000)
    return page.evaluate(
        """() => ({
      digit: document.getElementById('digit').textContent,
      confidence: document.getElementById('confidence').textContent,
      status: document.getElementById('status').textContent,
      bars: [...document.querySelectorAll('#bars li')].map(li => ({
        digit: li.dataset.digit,
        value: li.querySelector('.value').textContent,
        top: li.classList.contains('top'),
      })),
    })"""
    )


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if out := os.environ.get("DIGITREC_TEST_ARTIFACTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / name)
    return path


@pytest.mark.parametrize(
    ("name", "strokes", "digit"), [("1", ONE, 1), ("0", ZERO, 0), ("7", SEVEN, 7)]
)
def test_drawn_digits_are_recognised(page, tmp_path, name, strokes, digit):
    draw_with_mouse(page, strokes)
    result = shown(page)
    assert result["digit"] == str(digit), result
    assert result["status"] == ""
    assert [b["digit"] for b in result["bars"]] == [str(d) for d in range(10)]
    assert [b["digit"] for b in result["bars"] if b["top"]] == [str(digit)]
    percents = [float(b["value"].rstrip(" %")) for b in result["bars"]]
    assert sum(percents) == pytest.approx(100, abs=1)
    assert result["confidence"] == f"probability {max(percents):.1f} %"
    assert save_screenshot(page, tmp_path, f"serve-{name}.png").stat().st_size > 5000


def test_clear_and_draw_again(page, tmp_path):
    draw_with_mouse(page, SEVEN)
    assert shown(page)["digit"] == "7"
    page.click("#clear")
    empty = page.evaluate(
        """() => ({
      state: document.getElementById('result').dataset.state,
      digit: document.getElementById('digit').textContent,
      ink: (() => {
        const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 250) return true;
        return false;
      })(),
    })"""
    )
    assert empty == {"state": "empty", "digit": "?", "ink": False}
    draw_with_mouse(page, ZERO)
    assert shown(page)["digit"] == "0"
    save_screenshot(page, tmp_path, "serve-clear-then-0.png")


def test_a_finger_draws_too(page, tmp_path):
    draw_with_finger(page, ONE)
    assert shown(page)["digit"] == "1"
    save_screenshot(page, tmp_path, "serve-touch-1.png")


def test_the_page_says_what_it_serves_and_which_recipe_reads_real_handwriting(page):
    """The test server's model is an 8x8 digits model outside a project: the page says so
    and points to the MNIST recipe, above the drawing area."""
    note = page.locator("#model-note")
    assert note.is_visible()
    text = note.text_content()
    assert text.startswith("Trained on an unknown dataset (8x8 images).")
    assert HANDWRITING_RECIPE in text
    assert note.bounding_box()["y"] < page.locator("#pad").bounding_box()["y"]
