"""The dashboard in a real browser: headless Debian chromium driven by Playwright.

The Flask app is served for real (werkzeug make_server in a thread on a free port). Skips when
/usr/bin/chromium is missing, unless LIANXIN_REQUIRE_SERVERS=1 (CI installs it via .ci/extra-setup).
"""
from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from bot.web.dashboard import login_link
from models.db import session_scope
from models.org import Person
from models.talk import Talk
from tests.reports.test_stats import NOW, seed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("LIANXIN_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{CHROMIUM} is required (LIANXIN_REQUIRE_SERVERS=1); .ci/extra-setup installs it")
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def server(services, clock):
    from werkzeug.serving import make_server

    from bot.cli.wiring import create_app

    clock.set(NOW)
    with session_scope(services.session_factory) as db:
        people = seed(db)
        # two more talks with people already talked to (coverage unchanged): 波动 and 严重
        for uid, mood in (("zhangsan", "some_concern"), ("lisi", "serious_concern")):
            db.add(Talk(author_id=people["zhouli"].id, subject_id=people[uid].id, kind="quarterly", occurred_at=NOW,
                        quarter="2026Q4", summary="谈心", mood=mood))
    app = create_app(services.config, services=services)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


def _link(services, base, uid):
    with services.session_factory() as db:
        pid = db.scalars(select(Person.id).where(Person.wecom_userid == uid)).one()
    parts = urlsplit(login_link(services.config, pid))
    return f"{base}{parts.path}#{parts.fragment}"


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_dashboard_in_chromium(services, server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    # a branch secretary logs in with the link sent by the bot (its script posts the fragment's token)
    link = _link(services, server, "liqiang")
    page.goto(link)
    page.wait_for_url(f"{server}/dashboard")
    token = link.split("#t=", 1)[1]
    assert token not in page.url and not any(token in u for u in requests)   # never sent in a URL
    # the same link again in this browser: the dashboard, not "used" (issue 15)
    page.goto(link)
    page.wait_for_url(f"{server}/dashboard")
    assert page.locator("h2#scope").inner_text().endswith("外航维修党支部 · 2026Q4")
    bar = page.locator('#chart-coverage g.bar[data-label="四车间班组"]')
    assert bar.get_attribute("data-text") == "50%（3/6）"
    assert bar.locator("text.value").text_content() == "50%（3/6）"
    box = bar.locator("rect.fill").bounding_box()
    assert box is not None and 205 <= box["width"] <= 215            # 0.5 × 420 px drawn
    five = page.locator('#chart-coverage g.bar[data-label="五车间班组"] rect.fill').bounding_box()
    assert 80 <= five["width"] <= 88                                    # 0.2 × 420 px
    for flag in ("watch", "urgent"):
        point = page.locator(f'#chart-trend g.series[data-flag="{flag}"] circle[data-quarter="2026Q4"]')
        assert point.get_attribute("data-value") == "1", flag
    assert "学习完成 2/28" in page.locator("#tile-learning").inner_text()
    funnel = page.locator("#chart-funnel g.stage")
    assert [(funnel.nth(i).get_attribute("data-label"), funnel.nth(i).get_attribute("data-value"))
            for i in range(funnel.count())] == [("上报", "3"), ("已处理", "2"), ("关爱申请", "2"), ("已同意", "1"),
                                                ("已指派帮扶人", "1"), ("已结案", "1")]
    assert page.locator("#chart-funnel g.stage rect").first.bounding_box()["width"] > 400   # the widest stage
    part = page.locator('#chart-participation g.bar[data-label="四车间班组"]')
    assert part.get_attribute("data-text") == "29%（2/7）"
    assert page.locator('#chart-participation g.bar[data-label="五车间班组"]').get_attribute("data-text") == "17%（1/6）"
    # 思想动态: one small chart per team, 100 % stacked columns for the last 4 quarters
    four = page.locator('#chart-pulse figure.pulse-team[data-team="四车间班组"]')
    assert [four.locator("g.quarter").nth(i).get_attribute("data-quarter") for i in range(4)] == \
        ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    q4 = four.locator('g.quarter[data-quarter="2026Q4"]')
    assert (q4.get_attribute("data-talks"), q4.get_attribute("data-concern"), q4.get_attribute("data-flags")) == \
        ("7", "29%", "2")                          # 5 稳定, 1 波动, 1 严重; a watch·pay and an urgent·family flag
    serious = q4.locator('rect.mood[data-mood="serious_concern"]')
    assert serious.get_attribute("data-value") == "1"
    assert 11 <= serious.bounding_box()["height"] <= 15                 # 1/7 of the 90 px column
    assert 60 <= q4.locator('rect.mood[data-mood="stable"]').bounding_box()["height"] <= 66   # 5/7
    q3 = four.locator('g.quarter[data-quarter="2026Q3"]')
    assert (q3.get_attribute("data-concern"), q3.get_attribute("data-flags")) == ("0%", "1")
    assert four.locator('g.quarter[data-quarter="2026Q1"]').get_attribute("data-concern") == "—"
    assert page.locator('#chart-pulse figure.pulse-team[data-team="五车间班组"]').count() == 1
    page.screenshot(path=str(tmp_path / "dashboard-secretary.png"), full_page=True)

    # change the filter: 2026Q3 → 四车间 1/6
    page.select_option("#quarter", "2026Q3")
    page.click("#apply")
    page.wait_for_load_state()
    assert page.locator("h2#scope").inner_text().endswith("外航维修党支部 · 2026Q3")
    assert page.locator('#chart-coverage g.bar[data-label="四车间班组"]').get_attribute("data-text") == "17%（1/6）"

    # outside the scope: another branch is refused
    with services.session_factory() as db:
        from models.org import Unit
        unit_b = db.scalars(select(Unit.id).where(Unit.name == "附件修理党支部")).one()
    resp = page.goto(f"{server}/dashboard?unit={unit_b}")
    assert resp.status == 403 and "无权查看该单位的统计" in page.inner_text("#message")

    # the committee sees every branch and filters by unit
    page2 = browser.new_page(viewport={"width": 1400, "height": 1000})
    page2.goto(_link(services, server, "wangwei"))
    page2.wait_for_url(f"{server}/dashboard")
    assert page2.locator("h2#scope").inner_text().endswith("技术公司党委 · 2026Q4")
    assert page2.locator('#chart-coverage g.bar[data-label="附件修理党支部"]').get_attribute("data-text") == "50%（5/10）"
    assert page2.locator('#chart-coverage g.bar[data-label="外航维修党支部"]').get_attribute("data-text") == "36%（4/11）"
    page2.select_option("#unit", str(unit_b))
    page2.click("#apply")
    page2.wait_for_load_state()
    assert page2.locator("h2#scope").inner_text().endswith("附件修理党支部 · 2026Q4")
    assert page2.locator('#chart-coverage g.bar[data-label="部件一班组"]').get_attribute("data-text") == "100%（5/5）"
    page2.screenshot(path=str(tmp_path / "dashboard-committee.png"), full_page=True)

    # an employee's link is refused; a used link is refused
    page3 = browser.new_page()
    with page3.expect_response(lambda r: r.request.method == "POST") as refused:
        page3.goto(_link(services, server, "zhangsan"))
    assert refused.value.status == 403
    page3.wait_for_load_state()
    assert "仅对党委委员和支部书记开放" in page3.inner_text("#message")
    page3.screenshot(path=str(tmp_path / "dashboard-refused.png"))

    assert not errors
    assert all(u.startswith(server) for u in requests)                 # nothing from a CDN
    assert (tmp_path / "dashboard-secretary.png").stat().st_size > 10_000


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_dashboard_fits_a_phone(services, server, browser, tmp_path):
    """At 390 px (a phone) the page needs no horizontal scrolling and the charts shrink with it."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(_link(services, server, "liqiang"))
    page.wait_for_url(f"{server}/dashboard")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths
    for chart in ("#chart-coverage", "#chart-trend", "#chart-funnel", "#chart-participation"):
        box = page.locator(f"{chart} svg").first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (chart, box)
    assert page.locator('#chart-coverage g.bar[data-label="四车间班组"]').get_attribute("data-text") == "50%（3/6）"
    shot = tmp_path / "dashboard-phone.png"  # kept by pytest under its basetemp for a look
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors
