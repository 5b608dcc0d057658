"""The API reference in real headless Chromium, on a network that reaches nothing but the server."""

from urllib.parse import urlsplit

import pytest


pytestmark = pytest.mark.browser


def test_docs_render_with_every_other_host_blocked(browser, live_server):
    own = urlsplit(live_server).netloc
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def only_the_server(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(live_server + "/docs")
    assert "content-security-policy" in response.headers
    page.wait_for_selector(".opblock", timeout=20_000)  # Swagger UI rendered the operations
    assert page.locator(".opblock").count() >= 15
    assert page.locator(".opblock-summary-path", has_text="/api/ready").count() == 1
    page.locator(".opblock-summary-path", has_text="/api/health").first.click()  # expand, try it out
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    page.wait_for_selector(".live-responses-table tbody .response-col_status", timeout=10_000)
    assert page.inner_text(".live-responses-table tbody .response-col_status").strip() == "200"
    context.close()
    assert blocked == [] and errors == [], (blocked, errors)
