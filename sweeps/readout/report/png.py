"""The report's figures as PNG images, drawn by headless Chromium.

Each figure goes into a page of its own, beside the plotly.js the report embeds, and Chromium
takes a screenshot of it: the images look exactly like the page. Plotly's exporter, Kaleido,
drives a Chrome as well; calling the browser directly spares a dependency and a download.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from torchsweep.sweeps.errors import ImageError
from torchsweep.sweeps.readout.report.figures import HEIGHT, Plot

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH = 1100              # pixels
RENDER_BUDGET_MS = 10000  # virtual time the page gets to draw before the screenshot
TIMEOUT_S = 60


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def headless_flags(profile: Path) -> list[str]:
    """Chromium without a window, a sandbox (root in containers has none), a GPU or any
    network chatter, in a throwaway profile."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}"]


def write_pngs(plots: list[Plot], folder: Path) -> list[Path]:
    """One `<slug>.png` per plot that has a figure; returns the files written."""
    chromium = find_chromium()
    if chromium is None:
        raise ImageError("--png needs Chromium to draw the images: install it (e.g. apt-get "
                         "install chromium) or leave --png out")
    from plotly.offline import get_plotlyjs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="sweep-png-") as made:
        scratch = Path(made)
        (scratch / "plotly.js").write_text(get_plotlyjs(), encoding="utf-8")
        for plot in plots:
            if plot.figure is None:
                continue
            height = plot.figure.layout.height or HEIGHT
            page = scratch / f"{plot.slug}.html"
            page.write_text(_page(plot, height), encoding="utf-8")
            written.append(_screenshot(chromium, page, folder / f"{plot.slug}.png", height,
                                       scratch / "profile"))
    return written


def _page(plot: Plot, height: int) -> str:
    import plotly.io

    figure = plotly.io.to_html(plot.figure, full_html=False, include_plotlyjs=False,
                               default_width=f"{WIDTH}px", default_height=f"{height}px",
                               config={"displayModeBar": False, "staticPlot": True})
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><script src="plotly.js"></script>'
            f'</head><body style="margin:0;background:white">{figure}</body></html>')


def _screenshot(chromium: str, page: Path, png: Path, height: int, profile: Path) -> Path:
    command = [chromium, *headless_flags(profile), f"--window-size={WIDTH},{height}",
               f"--virtual-time-budget={RENDER_BUDGET_MS}", f"--screenshot={png.resolve()}",
               page.resolve().as_uri()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ImageError(f"Chromium took over {TIMEOUT_S}s to draw {png.name}") from None
    if done.returncode != 0 or not png.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ImageError(f"Chromium could not draw {png.name}: "
                         f"{lines[-1] if lines else f'exit code {done.returncode}'}")
    return png
