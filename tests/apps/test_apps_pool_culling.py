"""Voilà's idle culler and the preheated pool, against the real thing (hub + proxy + gateway +
preheated Voilà, culling after seconds instead of 15 minutes).

A pooled kernel is never culled while it waits, but the culler measures idleness from a
kernel's last message: a kernel that waited longer than ``apps.cull_idle_timeout`` (a quiet
weekend) was cullable from the moment a page took it until the page connected, and that page
had to reload (``BifKernelManager.handed_out``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from apps_helpers import KERNEL_ID, SLIDER_APP, voila_get, wait_until
from apps_hub import install_app, logged_in_context, running_platform

pytestmark = pytest.mark.timeout(240)

APP = "slider-app"
CULL_IDLE_TIMEOUT = 8  # long enough that a slow machine gets the page and looks in time
SETTINGS = {
    "shared_view": False,  # a kernel per page
    "cull_idle_timeout": CULL_IDLE_TIMEOUT, "cull_interval": 1,
    "orphan_timeout": 120,  # the gateway's own check for pages that never connect stays out of the way
}


@pytest.fixture(scope="module")
def platform(environment_access):
    yield from running_platform(apps=SETTINGS, prepare=lambda p: install_app(
        p, APP, json.loads(SLIDER_APP.read_text(encoding="utf-8")), pool_size=1))


def kernel(platform, kid: str) -> dict | None:
    return voila_get(platform, f"api/kernels/{kid}")


def idle_s(model: dict) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(model["last_activity"])).total_seconds()


def test_a_kernel_that_waited_long_in_the_pool_is_not_culled_when_a_page_takes_it(platform, browser):
    assert wait_until(lambda: voila_get(platform, f"bif/pools/{APP}")["rendered"] == 1, 120)
    pooled = [k["id"] for k in voila_get(platform, "bif/kernels")["kernels"] if k["pooled"]]
    assert len(pooled) == 1
    # it waits in the pool past the cull timeout, and is not culled there
    assert wait_until(lambda: idle_s(kernel(platform, pooled[0])) > CULL_IDLE_TIMEOUT + 2, 60)

    ctx = logged_in_context(platform, browser, "planer")
    response = ctx.request.get(f"{platform.gallery_url}app/{APP}/")  # a page whose browser is slow to connect
    assert response.status == 200
    kid = KERNEL_ID.search(response.text()).group(1)
    assert kid == pooled[0]

    # three cull passes later its kernel is still there (before: culled within one), idle
    # since the hand-out, not since the pool
    time.sleep(3)
    taken = kernel(platform, kid)
    assert taken is not None and taken["connections"] == 0
    assert idle_s(taken) < CULL_IDLE_TIMEOUT

    # the culler still works: a page that never connects loses the kernel after the timeout
    assert wait_until(lambda: kernel(platform, kid) is None, CULL_IDLE_TIMEOUT + 10)
    ctx.close()
