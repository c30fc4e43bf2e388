"""/status in a real headless Chromium (Debian's ``chromium``): the page loads on a phone-sized screen without
sideways scrolling, every number it shows is the one /api/v1/status gives, and screenshots are written to
``test-output/`` (``DEIDNODE_UPDATE_DOCS=1`` also copies them to ``docs/`` for the README)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from chromium import CHROMIUM, Chromium  # noqa: E402  (sys.path set by conftest)
from opsnode import folder_config, get_json, send_traffic  # noqa: E402
from peers import ROOT, free_port, storescu, wait_for  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")]

OUTPUT = ROOT / "test-output"
VOLATILE = {"generated", "node.uptime_seconds", "spool.free_bytes"}
"""Keys that change between two requests even on an idle node (free space moves with any file written on the
same file system, even one deleted again between the requests: CI saw 4096 bytes less in the page's read)."""

COLLECT = """Array.from(document.querySelectorAll('[data-k]')).map(e => [e.dataset.k, e.dataset.v,
  e.textContent.trim(), e.getBoundingClientRect().width > 0 || e.closest('details:not([open])') !== null])"""


def _flatten(d, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, dict | list):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


@pytest.fixture
def browser():
    b = Chromium()
    yield b
    b.close()


ROUTES = """
routes:
  - {name: from-ct1, match: {calling_aet: [CT1]}, destinations: [out]}
  - {name: from-pacs, match: {calling_aet: [PACS]}, destinations: [research]}
"""


def test_status_page_shows_the_api_numbers_on_a_phone_and_a_desktop(tmp_path, make_node, study_dir, browser):
    # CT1 goes to a folder, PACS to a research PACS that is down (nothing listens on its port), OTHER nowhere.
    cfg = folder_config(
        tmp_path,
        destinations=[
            {"name": "out", "type": "folder", "path": str(tmp_path / "out")},
            {
                "name": "research",
                "type": "dicom",
                "ae_title": "RESEARCH",
                "host": "127.0.0.1",
                "port": free_port(),
                "timeout": 2,
            },
        ],
    )
    (tmp_path / "routes.yaml").write_text(ROUTES)
    node = make_node(cfg).start()
    send_traffic(node, study_dir)
    assert storescu(node.port, sorted(study_dir.iterdir())[20:23], aet="PACS").returncode == 0
    wait_for(
        lambda: get_json(node, "/api/v1/status")[1]["throughput"]["windows"]["last_1m"]["out"] == 12, 60, "12 forwarded"
    )
    wait_for(
        lambda: get_json(node, "/api/v1/status")[1]["destinations"][1]["state"] == "backing_off",
        60,
        "the research PACS backed off",
    )
    _, s = get_json(node, "/api/v1/status")
    os.kill(s["workers"]["processes"][1]["pid"], signal.SIGKILL)  # so that the page has a restart to show
    wait_for(
        lambda: (
            get_json(node, "/api/v1/status")[1]["workers"]["alive"] == 2
            and get_json(node, "/api/v1/status")[1]["workers"]["restarts"] == 1
        ),
        30,
        "the worker replaced",
    )

    url = f"http://127.0.0.1:{node.metrics_port}/status"
    OUTPUT.mkdir(exist_ok=True)
    for name, width, height, mobile, scale in (("phone", 390, 844, True, 2), ("desktop", 1280, 800, False, 1)):
        before = _flatten(get_json(node, "/api/v1/status")[1])
        browser.open(url, width, height, mobile=mobile, scale=scale)
        after = _flatten(get_json(node, "/api/v1/status")[1])
        shown = browser.evaluate(COLLECT)
        stable = {k for k in before if before[k] == after.get(k)} - VOLATILE
        checked = 0
        for key, value, text, visible in shown:
            assert key in before, f"the page shows {key}, which the API does not have"
            if key in stable:
                assert value == str(before[key]), (key, value, before[key])
                checked += 1
            if type(before[key]) is int and not key.endswith(("bytes", "seconds")) and key in stable:
                assert text == value, (key, text, value)  # counts are shown as they are
            assert visible, f"{key} is not displayed"
        assert checked >= 40, checked
        for key in (
            "spool.states.forwarded",
            "spool.states.quarantined",
            "throughput.windows.last_1m.in",
            "quarantine.recent.0.code",
            "workers.restarts",
            "destinations.1.state",
            "spool.waiting",
        ):
            assert key in {k for k, *_ in shown}, key
        assert browser.evaluate("document.title") == "deidnode DEIDNODE"
        assert browser.evaluate("document.scripts.length") == 0
        # Readable at this width: the page itself never scrolls sideways (wide tables scroll in their box).
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        assert browser.evaluate(
            "Math.max(...Array.from(document.querySelectorAll('section'))"
            ".map(e => e.getBoundingClientRect().right)) <= window.innerWidth"
        ), name
        if mobile:  # one column of sections, text no smaller than 12 CSS px
            lefts = browser.evaluate(
                "Array.from(document.querySelectorAll('section')).map(e => Math.round(e.getBoundingClientRect().left))"
            )
            assert len(set(lefts)) == 1 and len(lefts) == 5
            assert (
                browser.evaluate(
                    "Math.min(...Array.from(document.querySelectorAll('td,th,span,b,p'))"
                    ".map(e => parseFloat(getComputedStyle(e).fontSize)))"
                )
                >= 12
            )
        png = browser.screenshot(OUTPUT / f"status-{name}.png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (OUTPUT / "status.json").write_text(json.dumps(get_json(node, "/api/v1/status")[1], indent=1))
    if os.environ.get("DEIDNODE_UPDATE_DOCS") == "1":
        shutil.copy(OUTPUT / "status-desktop.png", ROOT / "docs" / "status.png")
        shutil.copy(OUTPUT / "status-phone.png", ROOT / "docs" / "status-phone.png")
