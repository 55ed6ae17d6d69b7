"""``codeloop app create`` end to end: the local page, GitHub's manifest flow (an HTTP fake), the
conversion, and the credentials written to ``.env``."""

from __future__ import annotations

import httpx
import pytest

from codeloop import settings as settings_module
from codeloop.adapters import env_file
from codeloop.adapters.github_manifest import ManifestConversionError, convert_manifest_code
from codeloop.domain.app_manifest import APP_EVENTS, APP_PERMISSIONS
from codeloop.services.setup.app_registration import AppRequest, Registration, StoreError
from tests.browser import chromium
from tests.fakes.github_apps import GitHubAppsFake
from tests.integration.app.flow import (
    FormReader,
    assert_env_holds_the_app,
    start,
    submit_form,
    written_secrets,
)


def test_http_client_drives_the_flow_to_a_written_env(github, tmp_path, capsys):
    env = tmp_path / ".env"
    run = start("--env-file", str(env), "--webhook-url", "https://hooks.example.com/webhooks/github")

    back = submit_form(run)

    assert back.status_code == 200
    assert run.exit_code() == 0
    assert_env_holds_the_app(env, github)
    app = github.apps[-1]
    assert [(call.method, call.path) for call in github.calls] == [
        ("POST", "/settings/apps/new"),
        ("POST", f"/app-manifests/{app.code}/conversions"),
    ]
    conversion = github.calls[1]
    assert "authorization" not in conversion.headers
    manifest = app.manifest
    assert manifest["hook_attributes"]["url"] == "https://hooks.example.com/webhooks/github"
    assert manifest["redirect_url"] == f"{run.url}callback"
    assert manifest["default_permissions"] == {name: p.level for name, p in APP_PERMISSIONS.items()}
    assert manifest["default_events"] == list(APP_EVENTS)
    out = capsys.readouterr()
    assert f"{github.url}/apps/{app.credentials['slug']}/installations/new" in out.out
    assert f"{github.url}/apps/{app.credentials['slug']}/installations/new" in back.text
    assert not any(secret in out.out + out.err + back.text for secret in written_secrets(github))


def test_a_real_browser_goes_from_the_local_page_to_the_written_env(github, tmp_path):
    env = tmp_path / ".env"
    run = start("--env-file", str(env), "--org", "octo-org")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(run.url)
        page.click("button[type=submit]")
        page.wait_for_selector("#install")
        assert page.inner_text("h1") == "GitHub App created"
        install_link = page.get_attribute("#install", "href")

    assert run.exit_code() == 0
    assert_env_holds_the_app(env, github)
    assert github.calls[0].path == "/organizations/octo-org/settings/apps/new"
    assert github.apps[-1].owner == "octo-org"
    assert install_link == f"{github.url}/apps/{github.apps[-1].credentials['slug']}/installations/new"


def test_without_a_webhook_url_the_user_is_told_github_cannot_reach_127_0_0_1(github, tmp_path, capsys):
    run = start("--env-file", str(tmp_path / ".env"))
    submit_form(run)
    assert run.exit_code() == 0
    assert github.apps[-1].manifest["hook_attributes"]["url"] == "http://127.0.0.1:3000/webhooks/github"
    out = capsys.readouterr().out
    assert "GitHub cannot reach" in out
    assert "--webhook-url" in out
    assert "WebhookUrl" in out


@pytest.mark.parametrize("status", [404, 422])
def test_a_refused_code_is_a_clear_error_and_writes_nothing(github, tmp_path, capsys, status):
    env = tmp_path / ".env"
    run = start("--env-file", str(env), "--webhook-url", "https://hooks.example.com/webhooks/github")
    form = FormReader()
    form.feed(httpx.get(run.url).text)
    to_github = httpx.post(form.action, data=form.fields)
    github.fail_next(1, "status", status=status, body={"message": "Not Found"})

    back = httpx.get(to_github.headers["location"])

    assert back.status_code == 400
    assert "expired" in back.text
    assert run.exit_code() == 1
    assert not env.exists()
    err = capsys.readouterr().err
    assert f"GitHub refused the code ({status})" in err
    assert "Nothing was written" in err


def test_a_code_works_once(github, tmp_path):
    run = start("--env-file", str(tmp_path / ".env"), "--webhook-url", "https://h.example.com/w")
    submit_form(run)
    assert run.exit_code() == 0
    with pytest.raises(ManifestConversionError, match=r"refused the code \(404\)"):
        convert_manifest_code(github.url, github.apps[-1].code)


def test_a_wrong_state_is_refused_and_the_right_one_still_completes(github, tmp_path):
    env = tmp_path / ".env"
    run = start("--env-file", str(env), "--webhook-url", "https://hooks.example.com/webhooks/github")
    form = FormReader()
    form.feed(httpx.get(run.url).text)
    forged = dict(form.fields, state="not-the-state")
    to_github = httpx.post(form.action.split("?")[0], data=forged)

    refused = httpx.get(to_github.headers["location"])

    assert refused.status_code == 403
    assert "Nothing was written" in refused.text
    assert not env.exists()
    assert [call.path for call in github.calls] == ["/settings/apps/new"]  # the code was not traded
    assert httpx.get(f"{run.url}callback?code=abc").status_code == 403  # no state at all
    assert submit_form(run).status_code == 200
    assert run.exit_code() == 0
    assert_env_holds_the_app(env, github)


def test_github_enterprise_server_through_github_api_url(github, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", f"{github.url}/api/v3")
    settings_module.reset_settings()
    run = start("--env-file", str(tmp_path / ".env"), "--webhook-url", "https://h.example.com/w")
    submit_form(run)
    assert run.exit_code() == 0
    app = github.apps[-1]
    assert [call.path for call in github.calls] == [
        "/settings/apps/new",  # the web host, GITHUB_API_URL without /api/v3
        f"/api/v3/app-manifests/{app.code}/conversions",
    ]
    assert env_file.read_settings(tmp_path / ".env")["GITHUB_API_URL"] == f"{github.url}/api/v3"


def registration(github: GitHubAppsFake, store) -> Registration:
    request = AppRequest(
        api_url=github.url,
        web_url=github.url,
        name="codeloop",
        homepage_url=github.url,
        webhook_url="https://h.example.com/w",
    )
    return Registration(request, store).start()


def github_answer(run: Registration) -> str:
    """The URL GitHub sends the browser back to, after the page's form was posted."""
    form = FormReader()
    form.feed(httpx.get(run.url).text)
    return httpx.post(form.action, data=form.fields).headers["location"]


def test_a_finished_registration_refuses_further_answers_and_other_paths(github):
    stored = []
    run = registration(github, lambda credentials: stored.append(credentials) or "memory")
    try:
        assert httpx.get(f"{run.url}elsewhere").status_code == 404
        location = github_answer(run)
        assert httpx.get(location).status_code == 200
        assert httpx.get(location).status_code == 409
        outcome = run.wait(0)
    finally:
        run.stop()
    assert outcome is not None and outcome.error is None
    assert [c.slug for c in stored] == [github.apps[-1].credentials["slug"]]
    assert len(github.calls_to("POST", f"/app-manifests/{github.apps[-1].code}/conversions")) == 1


def test_credentials_that_cannot_be_stored_end_the_run_with_what_to_do(github):
    def store(credentials):
        raise StoreError("disk full")

    run = registration(github, store)
    try:
        answer = httpx.get(github_answer(run))
        outcome = run.wait(0)
    finally:
        run.stop()
    assert answer.status_code == 500
    assert "disk full" in answer.text
    assert outcome is not None
    assert "Generate a new private key" in (outcome.error or "")


def test_no_answer_from_github_in_time_ends_the_run_and_writes_nothing(github, tmp_path, capsys):
    from codeloop import cli

    env = tmp_path / ".env"
    code = cli.main(["app", "create", "--no-browser", "--env-file", str(env), "--timeout-minutes", "0"])
    assert code == 1
    assert "did not answer within 0 minutes; nothing was written" in capsys.readouterr().err
    assert not env.exists()
    assert github.calls == []


def test_a_port_in_use_is_a_clear_error(github, tmp_path, capsys):
    import socket

    from codeloop import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(
            ["app", "create", "--no-browser", "--port", str(port), "--env-file", str(tmp_path / ".env")]
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
