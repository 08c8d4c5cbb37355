"""report.py: the HTML page's content, and its chart as a real browser draws it."""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from artifact_history import History, build_history, equity_csv, metric_pair

from pytest_artifact_store.cli.report import PALETTE, build_report
from pytest_artifact_store.compare.directions import Directions


@pytest.fixture
def history(repo: Path, tmp_path: Path) -> History:
    return build_history(repo, tmp_path / "src")


def test_page_is_self_contained(history: History) -> None:
    with history.store() as store:
        report = build_report(store)
    page = report.html
    assert (report.versions, report.tasks) == (4, 2)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page and "<script" not in page and "<link" not in page
    assert re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", page) == []  # only in-page links
    assert "url(" not in page and "@import" not in page
    assert page.count("<svg") == 2  # one chart per task


def test_page_has_every_version_linked(history: History) -> None:
    with history.store() as store:
        page = build_report(store).html
    for name in ("v1", "v2", "v3", "b1"):
        assert f'<tr id="v-corr_{name}">' in page  # the anchor ...
        assert f'href="#v-corr_{name}"' in page  # ... and links to it
        assert history.sha(name)[:10] in page
    # v3's row links to the older v2; v2's row links to both neighbours
    v2_row = page[page.index('<tr id="v-corr_v2">') :].split("</tr>", 1)[0]
    assert '<a href="#v-corr_v1">← corr_v1</a>' in v2_row
    assert '<a href="#v-corr_v3">corr_v3 →</a>' in v2_row
    assert 'href="#task-momentum--rsi"' in page and 'id="task-momentum--rsi"' in page


def test_chart_paths_follow_the_curves(history: History) -> None:
    with history.store() as store:
        page = build_report(store, "momentum").html
    rsi = page[page.index('id="task-momentum--rsi"') :].split("</section>", 1)[0]
    equity = re.findall(r'<path class="equity" d="([^"]+)" fill="none" stroke="(#\w+)"', rsi)
    drawdown = re.findall(r'<path class="drawdown" d="([^"]+)"', rsi)
    assert len(equity) == len(drawdown) == 3
    by_color = dict((color, d) for d, color in equity)
    newest = by_color[PALETTE[0]]  # v3: 10000, 10080, 10160, 10240, 11100 (a straight rise)
    points = [tuple(map(float, p.split(","))) for p in newest[1:].split(" L")]
    assert len(points) == 5
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # SVG y grows downwards
    # v2 dips to 9900 on 2024-01-05: its drawdown line leaves the zero line there
    v2 = [tuple(map(float, p.split(","))) for p in drawdown[1][1:].split(" L")]
    zero = v2[0][1]
    assert [y > zero for _, y in v2] == [False, False, False, True, False]
    assert page.count('class="drawdown-area"') == 2  # the newest version of each task


def test_long_curves_are_thinned_but_keep_extremes(repo: Path, tmp_path: Path) -> None:
    values = [10000 + (i % 500) for i in range(20000)]
    values[12345] = 5000  # a crash that must stay visible
    src = tmp_path / "equity_curve.csv"
    src.write_text("step,equity\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    history = History(repo)
    with history.store() as store:
        store.commit_artifacts("wf", "long", [src], correlation_id="long")
        page = build_report(store).html
    d = re.search(r'<path class="equity" d="([^"]+)"', page)
    assert d is not None
    ys = [float(p.split(",")[1]) for p in d[1][1:].split(" L")]
    assert 1000 < len(ys) <= 1300
    assert max(ys) > 250  # 5000 is far below 10000: the lowest point reaches the bottom


def test_empty_and_curve_less(repo: Path, tmp_path: Path) -> None:
    history = History(repo)
    with history.store() as store:
        assert "No artifact versions yet." in build_report(store).html
        src = tmp_path / "strategy.py"
        src.write_text("X = 1\n")
        store.commit_artifacts("wf", "t", [src], correlation_id="c1")
        page = build_report(store).html
    assert "No equity curve in these versions." in page and "<svg" not in page


def test_html_is_escaped(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "equity_curve.csv"
    src.write_text("date,equity\n<b>x</b>,1\n2024-01-02,2\n")
    history = History(repo)
    with history.store() as store:
        store.commit_artifacts(
            "wf",
            "t",
            [src],
            metadata={"test_metrics": {"<img src=x>": 1}},
            correlation_id="c1",
        )
        page = build_report(store).html
    assert "<img" not in page and "&lt;img src=x&gt;" in page


def _changes(page: str, row_id: str) -> dict[str, tuple[str, str]]:
    """{metric: (delta class, shown change)} of one row of a task table."""
    table = page[: page.index(f'<tr id="{row_id}">')].rsplit("<table>", 1)[1]
    names = [
        n.replace("<wbr>", "")
        for n in re.findall(r'<th class="num">([^<]*(?:<wbr>[^<]*)*)</th>', table)
    ]
    row = page[page.index(f'<tr id="{row_id}">') :].split("</tr>", 1)[0]
    cells = re.findall(
        r'<td class="num">[^<]*(?:<span class="delta (\w+)"[^>]*>([^<]*)</span>)?</td>', row
    )
    return {n: c for n, c in zip(names, cells, strict=False) if c[0]}


@pytest.mark.parametrize("sign", [-1, 1])  # backtesting.py reports drawdowns negative
def test_changes_are_coloured_by_direction(repo: Path, tmp_path: Path, sign: int) -> None:
    history = metric_pair(
        History(repo),
        tmp_path / "src",
        {"max_drawdown_pct": sign * 33.9, "Sharpe Ratio": 1.2, "Return [%]": 5, "turnover": 1},
        {"max_drawdown_pct": sign * 56.6, "Sharpe Ratio": 0.9, "Return [%]": 7, "turnover": 2},
    )
    with history.store() as store:
        page = build_report(store).html
    assert _changes(page, "v-corr_sma_b") == {
        "max_drawdown_pct": ("worse", "+67.0%" if sign > 0 else "−67.0%"),  # deeper: red
        "Sharpe Ratio": ("worse", "−25.0%"),
        "Return [%]": ("better", "+40.0%"),
        "turnover": ("neutral", "+100.0%"),  # no direction: neither green nor red
    }
    assert ".delta.worse { color:var(--down); }" in page and "--down:#b91c1c;" in page
    assert ".delta.better { color:var(--up); }" in page and "--up:#047857;" in page
    with history.store() as store:
        declared = build_report(store, directions=Directions.from_strings(["turnover:lower"]))
    assert _changes(declared.html, "v-corr_sma_b")["turnover"] == ("worse", "+100.0%")


# ---------------------------------------------------------------- in a browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    exe = _chromium()
    if exe is None:
        print("SKIP reason: no chromium binary (apt-get install chromium; .ci/run does)")
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, timeout=180, check=False)


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = prev[i], prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        out += line
        prev = line
    return width, height, channels, bytes(out)


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _blend(color: str, alpha: float, background: str) -> tuple[int, int, int]:
    fg, bg = _hex(color), _hex(background)
    return (
        round(alpha * fg[0] + (1 - alpha) * bg[0]),
        round(alpha * fg[1] + (1 - alpha) * bg[1]),
        round(alpha * fg[2] + (1 - alpha) * bg[2]),
    )


@pytest.fixture
def curves(repo: Path, tmp_path: Path) -> History:
    """One task, three versions whose 150-day curves part ways early (v3 the newest)."""
    shapes: dict[str, Callable[[float], float]] = {
        "v1": lambda t: 10000 + 1500 * t * t,
        "v2": lambda t: 10000 - 900 * math.sin(math.pi * t),
        "v3": lambda t: 10000 * (1 + 0.25 * t) + 350 * math.sin(t * 14),
    }
    history = History(repo)
    with history.store() as store:
        for name, shape in shapes.items():
            src = tmp_path / name / "equity_curve.csv"
            src.parent.mkdir()
            src.write_text(equity_csv([shape(i / 149) for i in range(150)], "2024-01-01"))
            history.made[name] = store.commit_artifacts(
                "wf", "task", [src], metadata={"test_metrics": {"n": 1}}, correlation_id=name
            )
    return history


def test_browser_draws_the_chart(curves: History, tmp_path: Path) -> None:
    with curves.store() as store:
        page = build_report(store).html
    html_file = tmp_path / "report.html"
    html_file.write_text(page)
    png = tmp_path / "shot.png"
    proc = _browser(
        [f"--screenshot={png}", "--window-size=1200,1300", html_file.as_uri()], tmp_path
    )
    assert png.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    width, height, channels, pixels = decode_png(png.read_bytes())
    assert (width, height) == (1200, 1300)

    def columns_with(rgb: tuple[int, int, int], tolerance: int) -> dict[int, int]:
        """x -> how many pixels in that column are within ``tolerance`` of ``rgb``."""
        found: dict[int, int] = {}
        for y in range(height):
            row = y * width * channels
            for x in range(width):
                i = row + x * channels
                if (
                    abs(pixels[i] - rgb[0]) <= tolerance
                    and abs(pixels[i + 1] - rgb[1]) <= tolerance
                    and abs(pixels[i + 2] - rgb[2]) <= tolerance
                ):
                    found[x] = found.get(x, 0) + 1
        return found

    # The chart (newest version v3 in PALETTE[0]) is in view:
    # its equity and drawdown lines run across most of the chart width ...
    line = columns_with(_hex(PALETTE[0]), 30)
    assert len(line) > 0.55 * width, len(line)
    assert sum(line.values()) > 1500
    # ... and so do the older versions' (v2 in PALETTE[1], v1 in PALETTE[2], at 80 % opacity).
    for color in PALETTE[1:3]:
        assert len(columns_with(_blend(color, 0.8, "#fcfdfe"), 30)) > 0.5 * width, color
    # The newest version's drawdown is a filled area (its colour at 18 % over the panel).
    assert sum(columns_with(_blend(PALETTE[0], 0.18, "#fffbfb"), 6).values()) > 200
    png.replace(Path(str(html_file) + ".png"))  # kept beside the page for a human to look at


def test_browser_dom_has_the_svg_paths(history: History, tmp_path: Path) -> None:
    with history.store() as store:
        page = build_report(store).html
    html_file = tmp_path / "report.html"
    html_file.write_text(page)
    proc = _browser(["--dump-dom", html_file.as_uri()], tmp_path)
    dom = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert dom.count('class="equity"') == 4 and dom.count("<svg") == 2
