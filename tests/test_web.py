"""The review web app over HTTP: authentication, CSRF, security headers, escaping, decisions."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from tests.test_review import COOLING, TOPIC, seeded, two_edit_proposal  # noqa: F401 - fixture

TOKEN = "editor-secret-1-at-least-thirty-two-chars"
HTML = {"accept": "text/html"}


@pytest.fixture
def client(seeded, monkeypatch):  # noqa: F811
    from agent.web.app import create_app

    monkeypatch.setenv("ABSORB_EDITOR_TOKENS", f"other-token-also-thirty-two-chars-long, {TOKEN}")
    with TestClient(create_app(seeded), base_url="http://127.0.0.1") as test_client:
        yield test_client


def login(client: TestClient) -> str:
    from tests.test_web_review import form_login

    response = form_login(client, TOKEN)
    assert response.status_code == 303 and response.headers["location"] == "/topics"
    page = client.get("/proposals", headers=HTML).text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


@pytest.mark.parametrize("path", ["/topics", f"/topics/{TOPIC}", "/proposals", "/proposals/1"])
def test_pages_need_an_editor(client, path):
    page = client.get(path, headers=HTML)
    assert page.status_code == 401 and 'name="token"' in page.text
    assert client.get(path).status_code == 401  # scripts get JSON
    assert client.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code in (200, 404)


def test_login_sets_a_strict_http_only_cookie_and_refuses_bad_tokens(client):
    from tests.test_web_review import form_login

    bad = form_login(client, "guess-guess-guess-guess-guess-guess")
    assert bad.status_code == 401 and "not one of the editor tokens" in bad.text
    assert "absorb_session" not in bad.headers.get("set-cookie", "")
    evil = form_login(client, TOKEN, "//evil.example/x")
    assert evil.headers["location"] == "/proposals"  # no open redirect
    cookie = evil.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    forged = client.cookies["absorb_session"][:-2] + "00"
    client.cookies.clear()
    client.cookies.set("absorb_session", forged)
    assert client.get("/topics", headers=HTML).status_code == 401  # a forged signature


def test_every_response_carries_the_security_headers(client):
    for response in (client.get("/login"), client.get("/topics", headers=HTML),
                     client.get("/static/app.css")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_post_without_its_csrf_token_is_refused(client, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    csrf = login(client)
    for data in ({}, {"csrf": "0" * 64}):
        refused = client.post(f"/proposals/{pid}/approve", data=data, headers=HTML)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert seeded.proposals.get(pid).status.value == "pending"
    assert len(seeded.revisions.history(TOPIC)) == 1
    done = client.post(f"/proposals/{pid}/approve", data={"csrf": csrf, "edit": "p-boom"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/proposals/{pid}?merged=1#edit-1"


def test_untrusted_text_is_escaped_everywhere(client, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    login(client)
    page = client.get(f"/proposals/{pid}", headers=HTML).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;alert(2)" in page
    assert "<img" not in page and "<script>alert" not in page
    assert re.findall(r"<script[^>]*>", page) == [  # only same-origin files
        '<script src="/static/htmx.min.js" defer>', '<script src="/static/review.js" defer>']
    client.post(f"/proposals/{pid}/approve", data={"csrf": login(client)})
    article = client.get(f"/topics/{TOPIC}", headers=HTML).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in article and "<img" not in article
    assert 'title="Evil &lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; title · blog"' in article


def test_bearer_scripts_decide_without_csrf_and_get_json(client, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    approved = client.post(f"/proposals/{pid}/approve", data={"edit": "1", "comment": "ok"},
                           headers=bearer)
    assert approved.json() == {"proposal_id": pid, "status": "pending", "merged": [1],
                               "rejected": [], "refused": {}, "revision": 2}
    rejected = client.post(f"/proposals/{pid}/reject", data={"edit": "2"}, headers=bearer)
    assert rejected.json()["status"] == "partially_approved"
    again = client.post(f"/proposals/{pid}/approve", headers=bearer).json()
    assert again["merged"] == [] and again["revision"] is None
    conflict = client.post(f"/proposals/{pid}/reject", data={"edit": "1"}, headers=bearer)
    assert conflict.status_code == 409 and "already merged" in conflict.json()["error"]
    assert [r.comment for r in seeded.revisions.history(TOPIC)][1:] == ["ok"]


def test_topic_page_shows_citations_with_their_sources(client, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    login(client)
    client.post(f"/proposals/{pid}/approve", data={"csrf": login(client), "edit": "1"})
    page = client.get(f"/topics/{TOPIC}", headers=HTML).text
    assert COOLING in page
    number = re.search(r'href="#ref-(\d+)" title="Meta liquid cooling shift · blog"', page).group(1)
    assert f'<li id="ref-{number}">' in page and "revision 2" in page
    link = re.search(rf'<li id="ref-{number}"><a href="([^"]+)"', page).group(1)
    source = client.get(link, headers=HTML).text
    assert "Rack density grows." in source and f"[{number}] Meta liquid cooling shift" in source


def test_a_proposal_of_twenty_edits_renders_quickly(client, seeded):  # noqa: F811
    from tests.test_web_browser import twenty_edit_proposal

    pid = twenty_edit_proposal(seeded)
    login(client)
    started = time.perf_counter()
    page = client.get(f"/proposals/{pid}", headers=HTML)
    elapsed = time.perf_counter() - started
    assert page.status_code == 200 and page.text.count('class="edit"') == 20
    assert elapsed < 2.0, f"render took {elapsed:.3f}s"


def test_the_topics_page_shows_each_topics_revision_and_open_proposals(client, seeded):  # noqa: F811
    two_edit_proposal(seeded)
    seeded.topics.create("empty", "Nothing yet")
    login(client)
    page = client.get("/topics", headers=HTML).text
    rows = dict(re.findall(r'<a href="/topics/([a-z-]+)">.*?</td>\s*<td data-label="Title">.*?</td>\s*'
                           r'<td data-label="Revision">([^<]+)</td>', page, flags=re.S))
    assert rows == {TOPIC: "1", "empty": "—"}, page
    assert '<a href="/proposals?status=open">1</a>' in page
