"""templates/plots.html makes `dvc plots show` pages that need no network."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "plots.html"
GENERATOR = ROOT / "scripts" / "build_plots_template.py"
# What .dvc/config must say: dvc joins a relative plots.html_template onto the .dvc/ dir.
CONFIG_VALUE = "../templates/plots.html"

REMOTE_REF = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I
)
INLINE_SCRIPT = re.compile(r"<script>/\* (\S+) (\S+) \*/\n(.*?)\n    </script>", re.S)
SPEC = re.compile(r"var spec = (\{.*?\});\s*vegaEmbed\('#([^']+)', spec\);", re.S)


def _generator():
    spec = importlib.util.spec_from_file_location("build_plots_template", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _inlined(html: str) -> dict[str, tuple[str, str]]:
    return {name: (version, js) for name, version, js in INLINE_SCRIPT.findall(html)}


def test_template_inlines_vega_and_fits_dvc_render():
    html = TEMPLATE.read_text(encoding="utf-8")
    libs = _inlined(html)
    assert list(libs) == ["vega", "vega-lite", "vega-embed"]
    assert libs["vega"][0].startswith("5.")
    assert libs["vega-lite"][0].startswith("5.")
    assert libs["vega-embed"][0].startswith("6.")
    for name, (version, js) in libs.items():
        assert len(js) > 50_000, name
        assert f"{name} {version} (BSD-3-Clause)" in html  # recorded in the header comment
        assert "</script" not in js.lower()
    assert "Redistribution and use in source and binary forms" in html
    # dvc_render fills it with str.replace() of these tokens; {scripts} would bring the
    # CDN <script src> tags back, so it must be absent.
    assert html.count("{plot_divs}") == 1
    assert html.count("{refresh_tag}") == 1
    assert "{scripts}" not in html
    assert not REMOTE_REF.search(html)


def test_generator_escapes_and_is_deterministic(tmp_path):
    gen = _generator()
    libs = [
        gen.Library("vega", "5.0.0", "BSD-3-Clause", 'var v={a:"</script>",b:"<!--"};'),
        gen.Library("vega-lite", "5.0.0", "MIT", 'l="</SCRIPT>";\n//# sourceMappingURL=x.map\n'),
        gen.Library("vega-embed", "6.0.0", "BSD-3-Clause", "function e(){return {x:1}}"),
    ]
    html = gen.render(libs)
    assert html == gen.render(list(reversed(libs)))
    scripts = _inlined(html)
    assert scripts["vega"][1] == 'var v={a:"<\\/script>",b:"\\x3C!--"};'
    assert scripts["vega-lite"][1] == 'l="<\\/SCRIPT>";'
    assert "vega-lite 5.0.0 (MIT)" in html
    assert scripts["vega-embed"][1] == "function e(){return {x:1}}"
    assert "{plot_divs}" in html and "{refresh_tag}" in html and "{scripts}" not in html

    with pytest.raises(ValueError, match="placeholder"):
        gen.render([libs[0], libs[1], gen.Library("vega-embed", "6", "BSD", "x='{plot_divs}'")])
    with pytest.raises(ValueError, match="need exactly"):
        gen.render(libs[:2])

    # Inputs as unpacked npm packages, through the command line.
    inputs = []
    for lib in libs:
        pkg = tmp_path / lib.name
        (pkg / "build").mkdir(parents=True)
        meta = {"name": lib.name, "version": lib.version, "license": lib.license}
        (pkg / "package.json").write_text(json.dumps(meta))
        (pkg / "build" / f"{lib.name}.min.js").write_text(lib.js)
        inputs.append(str(pkg))
    out = tmp_path / "out" / "plots.html"
    assert gen.main([*inputs, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == html


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_dvc_plots_show_renders_with_inlined_libraries(tmp_path):
    from digitrec.evaluation.plots import save_confusion_matrix_png

    dvc = [sys.executable, "-m", "dvc"]
    repo = tmp_path / "repo"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run([*dvc, "init", "-q"], repo)
    (repo / "templates").mkdir()
    shutil.copyfile(TEMPLATE, repo / "templates" / "plots.html")
    _run([*dvc, "config", "plots.html_template", CONFIG_VALUE], repo)

    (repo / "predictions.csv").write_text("actual,predicted\n0,0\n0,0\n1,1\n1,0\n2,2\n2,1\n")
    (repo / "curve.csv").write_text("step,accuracy\n0,0.5\n1,0.75\n2,0.9\n")
    save_confusion_matrix_png([[2, 0, 0], [1, 1, 0], [0, 1, 1]], "012", repo / "confusion.png")
    (repo / "dvc.yaml").write_text(
        "plots:\n"
        "  - predictions.csv:\n"
        "      template: confusion\n"
        "      x: actual\n"
        "      y: predicted\n"
        "  - curve.csv:\n"
        "      x: step\n"
        "      y: accuracy\n"
        "  - confusion.png\n"
    )
    subdir = repo / "sub"  # the config path must not depend on the working directory
    subdir.mkdir()
    _run([*dvc, "plots", "show", "--out", str(tmp_path / "out")], subdir)

    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert not REMOTE_REF.search(html), REMOTE_REF.search(html).group(0)
    assert "cdn.jsdelivr.net" not in html
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", html, re.I)
    template = TEMPLATE.read_text(encoding="utf-8")
    for name, (_version, js) in _inlined(template).items():
        assert js in html, f"{name} is not inlined"

    # Div ids derive from the plot paths as seen from the working directory ("../x.csv").
    specs = {div.lstrip("_"): json.loads(spec) for spec, div in SPEC.findall(html)}
    assert set(specs) == {"predictions_csv", "curve_csv"}
    for spec in specs.values():
        assert spec["$schema"].endswith("/vega-lite/v5.json")
    confusion = specs["predictions_csv"]
    assert {"actual": "1", "predicted": "0", "rev": "workspace"} in confusion["data"]["values"]
    assert confusion["spec"]["encoding"]["x"]["field"] == "actual"
    assert confusion["spec"]["encoding"]["y"]["field"] == "predicted"
    curve = json.dumps(specs["curve_csv"])
    assert '"accuracy"' in curve and '"step"' in curve

    body = html[html.rindex("<body>") :]  # the page's own body, after the inlined JS
    images = re.findall(r"<img\b[^>]*\bsrc\s*=\s*\"([^\"]+)\"", body)
    assert len(images) == 1
    assert not images[0].startswith(("http:", "https:", "//"))
    assert (tmp_path / "out" / images[0]).is_file()
