"""Open the HTML report in headless Chromium: it must draw something and never run a planted script."""

import shutil
import subprocess

import matplotlib.image
import pytest

from weirdgen.report import FigureSpec, ReportSpec, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLANTED = (
    '<script>document.title="PWNED";document.body.innerHTML="";</script>'
    '<img src=x onerror="document.title=\'PWNED\'"><div id="planted">x</div>'
)


def _chromium(tmp_path, *arguments):
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _dom_title(tmp_path, path):
    dom = _chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    return dom.split("<title>", 1)[1].split("</title>", 1)[0], dom


def test_chromium_runs_scripts_in_an_unprotected_page(tmp_path):
    # The check below means something only if this browser would run a planted script.
    page = tmp_path / "control.html"
    page.write_text(f"<html><head><title>safe</title></head><body>{PLANTED}</body></html>")
    assert _dom_title(tmp_path, page)[0] == "PWNED"


def test_report_renders_and_planted_script_does_not_run(tmp_path, samples_factory, run_writer):
    samples = samples_factory({"old_audubon": [0.8, 0.6], "base": [0.0]}, n=10)
    samples.loc[0, "answer"] = PLANTED
    samples.loc[1, "prompt"] = PLANTED
    run = run_writer(tmp_path / "run", samples)
    spec = ReportSpec(title="browser check", figures=(FigureSpec("bars", "era"),), n_resamples=200)
    html_path = write_report(run, spec).html
    title, dom = _dom_title(tmp_path, html_path)
    assert title == "browser check"
    # Escaped, the planted markup is text: serialised back as &lt;div ...&gt;, never as an element.
    assert '<div id="planted">' not in dom and '&lt;div id="planted"&gt;' in dom
    screenshot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1000,1400", html_path.as_uri())
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (1400, 1000)
    assert (
        pixels[..., :3].std() > 0.05 and (pixels[..., :3] < 0.5).mean() > 0.005
    )  # text and a plot, not blank
