"""The HTML leaderboard (``harness.results.leaderboard_html``): the markdown's rows and numbers in one
self-contained page, the same bytes whenever the results are the same, covered by ``--check``; and,
in a real headless Chromium driven by Selenium, the committed page: its toy table, sorting by a
clicked header, the filters, the intervals, the plot, and no JavaScript error."""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zsbench.harness.results.leaderboard import check_leaderboard, render_all, write_leaderboard
from zsbench.harness.results.leaderboard_html import FAMILIES, method_family

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_plots import registered, write_results  # noqa: E402,F401  (the fixture and the small result set)

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"


def markdown_table(text: str, first_header: str = "| method | model |") -> list[list[str]]:
    """The cells of the first markdown table under ``first_header``, emphasis removed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([re.sub(r"\*+", "", c).strip() for c in line.strip("|").split("|")])
    return rows


def test_the_page_has_the_markdowns_rows_inline_plots_and_no_external_asset(tmp_path, registered):
    results_dir, board = tmp_path / "results", tmp_path / "leaderboard.md"
    write_results(results_dir)
    text = write_leaderboard(results_dir, board)
    page = (results_dir / "leaderboard.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for row in markdown_table(text):
        assert "<td>" + row[0] + "</td>" in page or f">{row[0]}<" in page
        for cell in row[5:]:
            assert cell in page, cell
    # the plots are inside the page, byte for byte, and nothing is fetched from anywhere
    svg = (results_dir / "plots" / "few.svg").read_bytes()
    assert f"data:image/svg+xml;base64,{base64.b64encode(svg).decode()}" in page
    assert "results/plots/few.svg" not in page
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page) and "<link" not in page
    # per-row details the markdown does not show: family and the bootstrap interval where recorded
    assert '"family": "zero-shot, per-image work"' in page  # abs crops every image
    assert "Click a column header to sort" in page


def test_the_page_is_the_same_bytes_for_the_same_results_and_check_covers_it(tmp_path, registered):
    results_dir, board = tmp_path / "results", tmp_path / "leaderboard.md"
    write_results(results_dir)
    write_leaderboard(results_dir, board)
    page = results_dir / "leaderboard.html"
    first = page.read_bytes()
    assert render_all(results_dir, board).html.encode() == first
    assert check_leaderboard(results_dir, board) == (True, "")
    page.write_bytes(first.replace(b"abs", b"abz", 1))
    ok, report = check_leaderboard(results_dir, board)
    assert not ok and f"page {page} is stale: differs" in report
    page.unlink()
    ok, report = check_leaderboard(results_dir, board)
    assert not ok and f"page {page} is stale: missing" in report
    elsewhere = tmp_path / "site" / "index.html"
    write_leaderboard(results_dir, board, html=elsewhere)
    assert elsewhere.read_bytes() == first and check_leaderboard(results_dir, board, html=elsewhere) == (True, "")


def test_method_families_come_from_what_a_method_needs():
    assert method_family("clip-e") == FAMILIES["features"]
    assert method_family("abs") == FAMILIES["images"]
    assert method_family("coop") == method_family("gda") == FAMILIES["fewshot"]
    assert method_family("not-installed-here") == "other"


def test_the_cli_writes_and_checks_the_page(tmp_path, registered):
    from typer.testing import CliRunner

    from zsbench.harness.cli.app import app

    results_dir, board, page = tmp_path / "results", tmp_path / "lb.md", tmp_path / "page.html"
    write_results(results_dir)
    args = ["leaderboard", "--results-dir", str(results_dir), "--output", str(board), "--html", str(page)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0 and page.is_file()
    page.write_text("stale")
    done = CliRunner().invoke(app, args + ["--check"])
    assert done.exit_code == 1 and f"page {page} is stale: differs" in done.output


# ------------------------------------------------------------------------------------ browser

def _browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"no headless Chromium here ({CHROMIUM}, {CHROMEDRIVER}); .ci/run installs Debian's chromium "
                    "and chromium-driver with apt-get")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # the local driver: no download


@pytest.fixture(scope="module")
def page():
    """The committed page, loaded from its file URL."""
    driver = _browser()
    try:
        driver.get((REPO / "results" / "leaderboard.html").resolve().as_uri())
        yield driver
    finally:
        driver.quit()


def _toy_table(driver):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, "//h2[@id='toy']/following-sibling::table[1]")


def _rows(table) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr") if tr.is_displayed()]


def _select(driver, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, f"filter-{name}")).select_by_value(value)


def test_browser_shows_the_committed_toy_rows(page):
    committed = markdown_table((REPO / "leaderboard.md").read_text().split("\n## toy\n", 1)[1])
    shown = _rows(_toy_table(page))
    assert [r[:5] for r in shown] == [r[:5] for r in committed] and len(shown) >= 10
    assert [r[5] for r in shown] == [c[5] for c in committed]  # the toy column, same numbers, same order


def test_browser_clicking_a_header_sorts_by_it(page):
    from selenium.webdriver.common.by import By

    table = _toy_table(page)
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    toy = headers.index("toy")
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[toy]
    header.click()
    values = [float(r[toy].split(" ")[0]) for r in _rows(table)]
    assert values == sorted(values, reverse=True) and values != [float(r[toy].split(" ")[0]) for r in
                                                                   markdown_table((REPO / "leaderboard.md").read_text().split("\n## toy\n", 1)[1])]
    header.click()
    assert [float(r[toy].split(" ")[0]) for r in _rows(table)] == sorted(values)
    method = table.find_elements(By.CSS_SELECTOR, "thead th")[0]
    method.click()
    names = [r[0] for r in _rows(table)]
    assert names == sorted(names, reverse=True)


def test_browser_filters_hide_rows(page):
    table = _toy_table(page)
    everything = _rows(table)
    _select(page, "shots", "16")
    few = _rows(table)
    assert few and len(few) < len(everything) and all(r[3] == "16" for r in few)
    _select(page, "shots", "")
    _select(page, "family", FAMILIES["features"])
    zero = _rows(table)
    assert "clip-e" in [r[0] for r in zero] and "abs" not in [r[0] for r in zero] and "gda" not in [r[0] for r in zero]
    _select(page, "family", "")
    assert len(_rows(table)) == len(everything)


def test_browser_shows_the_intervals_and_the_plot_and_logs_no_error(page):
    from selenium.webdriver.common.by import By

    table = _toy_table(page)
    cell = table.find_elements(By.CSS_SELECTOR, "tbody tr")[0].find_elements(By.TAG_NAME, "td")[5]
    assert re.fullmatch(r"95 % interval \d+\.\d\d–\d+\.\d\d", cell.get_attribute("title"))
    page.find_element(By.ID, "show-ci").click()
    assert re.search(r"\[\d+\.\d\d–\d+\.\d\d\]", cell.text)
    page.find_element(By.ID, "show-ci").click()
    plot = page.find_element(By.XPATH, "//h2[@id='toy']/following-sibling::p/img")
    assert plot.is_displayed()
    assert page.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot) > 100
    errors = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
