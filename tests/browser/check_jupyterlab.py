"""Every main notebook, run the way a learner runs it: JupyterLab in a real (headless) browser.

nbval proves that the notebooks execute in a kernel; this proves what a learner actually sees:
JupyterLab from the course environment opens each notebook, finds its kernel, runs every cell
through the UI (Run > Run All Cells) and renders the outputs. It fails on an error output, a
Traceback on stderr, a missing or dead kernel (any dialog), a widget that could not be shown,
or an image that did not render, and saves a full-length screenshot of each notebook to
build/screenshots/ (an artefact, never committed).

Not part of `make test` (it needs Debian's chromium and chromium-driver, and runs every notebook
a second time), so the file is not named test_*.py and pytest does not collect it by itself: run
it with `make browser-check`, which names it and sets RERANK_LAB_BROWSER_CHECK=1.
JupyterLab serves a copy of notebooks/ with autosave off, so the checked-in notebooks are never
written, and runs in the offline world at the small scale unless the caller exported otherwise.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("RERANK_LAB_BROWSER_CHECK") != "1":
    pytest.skip(
        "browser check: run `make browser-check` (needs chromium and chromium-driver)",
        allow_module_level=True,
    )

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[browser]'")
from PIL import Image, ImageOps  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MAIN = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
NOTEBOOK_TIMEOUT = float(os.environ.get("RERANK_LAB_BROWSER_TIMEOUT", "1200"))
WINDOW = (1400, 1000)
SEAM = 12  # pixels of overlap between the stitched screens
# Straight to localhost, whatever proxy the environment names.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# JupyterLab user settings for the check: no autosave (the copy is never written either), every
# cell attached to the page (windowing off) so that images can be checked and photographed, and
# no news or update pop-ups over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
        "doNotDisturbMode": True,
    },
}

# The state of the current notebook, read from JupyterLab's own model (the app is exposed to the
# page with --LabApp.expose_app_in_browser, only in this check).
STATE_JS = """
const app = window.jupyterapp;
if (!app || !app.shell.currentWidget || !app.shell.currentWidget.content) { return null; }
const panel = app.shell.currentWidget;
const ctx = panel.sessionContext;
const kernel = ctx.session && ctx.session.kernel;
const cells = [];
for (const cell of panel.content.widgets) {
  if (cell.model.type !== 'code') { continue; }
  const outputs = cell.model.outputs.toJSON();
  cells.push({
    count: cell.model.executionCount,
    running: cell.promptNode ? cell.promptNode.textContent.includes('*') : false,
    errors: outputs.filter(o => o.output_type === 'error')
                   .map(o => o.ename + ': ' + o.evalue),
    images: outputs.filter(o => o.data && o.data['image/png']).length,
    text: outputs.map(o => o.text || (o.data && o.data['text/plain']) || '')
                 .join('').slice(0, 2000),
  });
}
const dialogs = Array.from(document.querySelectorAll('.jp-Dialog'))
  .map(d => d.innerText.replace(/\\s+/g, ' ').trim());
const tracebacks = Array.from(document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
  .map(e => e.innerText).filter(t => t.includes('Traceback'))
  .map(t => t.slice(0, 1500));
const widgetErrors = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .map(e => e.innerText).filter(t => t.includes('Error displaying widget'));
const images = Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
  .map(i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
return {
  kernelName: kernel ? kernel.name : null,
  kernelStatus: kernel ? kernel.status : (ctx.hasNoKernel ? 'no kernel' : null),
  kernelDisplayName: ctx.kernelDisplayName,
  cells, dialogs, tracebacks, widgetErrors, images,
};
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab from the course environment on a free localhost port, serving a copy."""
    home = tmp_path_factory.mktemp("lab")
    served = home / "course"
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=shutil.ignore_patterns(".*"))
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = dict(os.environ)
    env.setdefault("RERANK_LAB_OFFLINE", "1")
    env.setdefault("RERANK_LAB_SCALE", "small")
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),  # kernels come from the course environment only
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = (home / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={served}", "--LabApp.expose_app_in_browser=True",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with _LOCAL.open(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{_tail(home / 'jupyterlab.log')}")
                time.sleep(0.5)
        yield base, token, home
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _shutdown_kernels(base: str, token: str) -> None:
    """Stop every kernel the notebook started, so that the next one has the CPU and memory."""
    headers = {"Authorization": f"token {token}"}
    with _LOCAL.open(urllib.request.Request(f"{base}/api/sessions", headers=headers)) as reply:
        sessions = json.load(reply)
    for session in sessions:
        request = urllib.request.Request(
            f"{base}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        _LOCAL.open(request).close()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium, started for a closed network; nothing is downloaded."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} not found: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _click_menu(driver: webdriver.Chrome, menu: str, command: str) -> None:
    """Open a menu of the menu bar by its label and click one of its items, as a person does."""
    items = driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
    [item] = [item for item in items if item.text.strip() == menu]
    item.click()
    entry = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, f'.lm-Menu-item[data-command="{command}"]'),
        10,
        f"the {command} entry of the {menu} menu",
    )
    entry[0].click()


def _screenshot(driver: webdriver.Chrome, target: Path) -> tuple[int, int]:
    """The whole notebook, however long: scroll its panel a screen at a time and stitch."""
    scroller = driver.execute_script(
        "const p = window.jupyterapp.shell.currentWidget.content.node;"
        "return p.querySelector('.jp-WindowedPanel-outer') || p;"
    )
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top, r.width, arguments[0].clientHeight, arguments[0].scrollHeight];",
        scroller,
    )
    left, top, width, view, total = (int(round(v)) for v in box)
    sheet = Image.new("RGB", (width, total), "white")
    offset, skip = 0, 0  # once scrolled, JupyterLab shades the panel's top edge: overlap it
    while True:
        driver.execute_script("arguments[0].scrollTop = arguments[1];", scroller, offset)
        time.sleep(0.3)
        actual = int(driver.execute_script("return arguments[0].scrollTop;", scroller))
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        sheet.paste(shot.crop((left, top + skip, left + width, top + view)), (0, actual + skip))
        if actual + view >= total:
            break
        offset, skip = actual + view - 2 * SEAM, SEAM
    driver.execute_script("arguments[0].scrollTop = 0;", scroller)
    content = ImageOps.invert(sheet).getbbox()  # drop the empty space JupyterLab pads below
    if content:
        sheet = sheet.crop((0, 0, width, min(total, content[3] + 40)))
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target, optimize=True)
    return sheet.size


@pytest.mark.parametrize("notebook", MAIN, ids=lambda path: path.stem)
def test_notebook_runs_and_renders_in_jupyterlab(
    notebook: Path, lab: tuple[str, str, Path], browser: webdriver.Chrome
) -> None:
    base, token, _ = lab
    try:
        _run_and_check(notebook, base, token, browser)
    finally:
        _shutdown_kernels(base, token)


def _run_and_check(notebook: Path, base: str, token: str, browser: webdriver.Chrome) -> None:
    started = time.monotonic()
    browser.get(f"{base}/lab/tree/notebooks/{notebook.name}?reset&token={token}")

    def opened():
        state = browser.execute_script(STATE_JS)
        if state and state["dialogs"]:
            raise AssertionError(f"dialog on opening {notebook.name}: {state['dialogs']}")
        return state if state and state["kernelStatus"] == "idle" and state["cells"] else None

    state = _wait(opened, 180, f"{notebook.name} to open with an idle kernel")
    assert state["kernelName"] == "python3", state["kernelDisplayName"]
    browser.execute_script("window.jupyterapp.commands.execute('application:toggle-left-area');")
    _click_menu(browser, "Run", "runmenu:run-all")  # Run > Run All Cells

    def finished():
        state = browser.execute_script(STATE_JS)
        problems = state["dialogs"] or state["tracebacks"] or state["widgetErrors"]
        errors = [error for cell in state["cells"] for error in cell["errors"]]
        if problems or errors or state["kernelStatus"] in ("dead", "no kernel", None):
            return state
        done = all(cell["count"] is not None and not cell["running"] for cell in state["cells"])
        return state if done and state["kernelStatus"] == "idle" else None

    state = _wait(finished, NOTEBOOK_TIMEOUT, f"{notebook.name} to run all cells")
    time.sleep(2)  # let the last outputs (plots) reach the page
    state = browser.execute_script(STATE_JS)
    size = _screenshot(browser, SCREENSHOTS / f"{notebook.stem}.png")
    browser.save_screenshot(str(SCREENSHOTS / f"{notebook.stem}_window.png"))
    seconds = time.monotonic() - started

    errors = [error for cell in state["cells"] for error in cell["errors"]]
    assert not state["dialogs"], f"dialog: {state['dialogs']}"
    assert not errors, f"error outputs: {errors}"
    assert not state["tracebacks"], "Traceback on stderr:\n" + "\n---\n".join(state["tracebacks"])
    assert not state["widgetErrors"], f"widgets not shown: {state['widgetErrors']}"
    assert state["kernelStatus"] == "idle", f"kernel {state['kernelStatus']}"
    unrun = [n for n, cell in enumerate(state["cells"]) if cell["count"] is None]
    assert not unrun, f"code cells not run: {unrun}"
    expected = sum(cell["images"] for cell in state["cells"])
    broken = [image for image in state["images"] if not image["complete"] or not image["width"]]
    assert not broken, f"images that did not render: {broken}"
    shown = len(state["images"])
    assert shown >= expected, f"{expected} image outputs, {shown} shown"
    report = state["cells"][1]["text"]  # rl.notebook.setup's report
    world = "offline" if os.environ.get("RERANK_LAB_OFFLINE", "1") == "1" else ""
    assert f"world:  {world}" in report, report
    print(
        f"{notebook.name}: {len(state['cells'])} code cells, {expected} images, "
        f"{seconds:.0f} s, screenshot {size[0]}x{size[1]}"
    )
