"""Installation tokens: narrowed, cached, refreshed near expiry; the App JWT; GITHUB_API_URL."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from codeloop.adapters import github as gh
from tests.fakes.github import FakeRepo, GitHubFake, app_key_pair, github_fake_environment
from tests.integration.github.conftest import INSTALLATION, REPO

TOKEN_PATH = f"/app/installations/{INSTALLATION}/access_tokens"


def token_requests(fake: GitHubFake) -> list[dict]:
    return [call.body for call in fake.calls_to("POST", TOKEN_PATH)]


def test_a_token_is_narrowed_to_the_repository_and_permissions(github_fake: GitHubFake, repo: FakeRepo):
    token = gh.installation_token(INSTALLATION, REPO, gh.CONTENTS_READ)

    assert token_requests(github_fake) == [{"repositories": ["hello"], "permissions": {"contents": "read"}}]
    issued = github_fake.tokens[token]
    assert issued.repositories == {"hello"}
    assert issued.permissions == {"metadata": "read", "contents": "read"}


def test_a_narrowed_token_cannot_do_more(github_fake: GitHubFake, repo: FakeRepo):
    with pytest.raises(gh.GitHubError) as raised:
        gh.create_check_run(
            INSTALLATION, REPO, name="x", head_sha=repo.refs["main"], permissions=gh.CONTENTS_READ
        )

    assert raised.value.status == 403
    assert repo.check_runs == {}


def test_tokens_are_cached_per_repository_and_permissions(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.add_repo("octo/other", installation_id=INSTALLATION)

    gh.get_repository(INSTALLATION, REPO)
    gh.get_languages(INSTALLATION, REPO)
    gh.collaborator_permission(INSTALLATION, REPO, "someone")
    gh.get_file_content(INSTALLATION, REPO, "README.md")
    gh.get_repository(INSTALLATION, "octo/other")

    assert token_requests(github_fake) == [
        {"repositories": ["hello"], "permissions": {"metadata": "read"}},
        {"repositories": ["hello"], "permissions": {"contents": "read"}},
        {"repositories": ["other"], "permissions": {"metadata": "read"}},
    ]
    metadata_token = github_fake.calls_to("GET", "/repos/octo/hello")[0].headers["authorization"]
    assert (
        github_fake.calls_to("GET", "/repos/octo/hello/languages")[0].headers["authorization"]
        == metadata_token
    )
    assert metadata_token.startswith("token ghs_")


def test_a_token_close_to_expiry_is_replaced(github_fake: GitHubFake, repo: FakeRepo):
    github_fake.token_lifetime = timedelta(minutes=4)  # inside the 5-minute margin
    first = gh.installation_token(INSTALLATION, REPO, gh.METADATA_READ)
    second = gh.installation_token(INSTALLATION, REPO, gh.METADATA_READ)

    github_fake.token_lifetime = timedelta(minutes=6)
    third = gh.installation_token(INSTALLATION, REPO, gh.METADATA_READ)
    fourth = gh.installation_token(INSTALLATION, REPO, gh.METADATA_READ)

    assert len(token_requests(github_fake)) == 3
    assert first != second != third
    assert third == fourth


def test_a_token_github_no_longer_accepts_is_replaced_once(github_fake: GitHubFake, repo: FakeRepo):
    gh.get_repository(INSTALLATION, REPO)
    github_fake.tokens.clear()  # revoked

    assert gh.get_repository(INSTALLATION, REPO).full_name == REPO
    assert [call.status for call in github_fake.calls_to("GET", "/repos/octo/hello")] == [200, 401, 200]
    assert len(token_requests(github_fake)) == 2


def test_token_requests_are_signed_with_the_app_jwt(github_fake: GitHubFake, repo: FakeRepo):
    gh.installation_token(INSTALLATION, REPO, gh.METADATA_READ)

    scheme, _, credential = (
        github_fake.calls_to("POST", TOKEN_PATH)[0].headers["authorization"].partition(" ")
    )
    claims = jwt.decode(credential, app_key_pair()[1], algorithms=["RS256"])
    assert scheme == "Bearer"
    assert claims["iss"] == str(github_fake.app_id)
    assert claims["exp"] - claims["iat"] <= 600


def test_a_jwt_signed_with_another_key_is_refused(github_fake: GitHubFake, repo: FakeRepo):
    other_fake = GitHubFake(public_key_pem=_other_public_key())
    github_fake.public_key_pem = other_fake.public_key_pem

    with pytest.raises(gh.GitHubError) as raised:
        gh.get_repository(INSTALLATION, REPO)

    assert raised.value.status == 401
    assert github_fake.calls_to("GET", "/repos/octo/hello") == []


def _other_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_github_api_url_is_the_base_of_every_call(monkeypatch: pytest.MonkeyPatch):
    with github_fake_environment(monkeypatch, api_prefix="/api/v3") as fake:
        fake.add_repo(REPO, installation_id=INSTALLATION)
        for number in range(130):
            fake.add_delivery(repository_id=number)

        gh.get_repository(INSTALLATION, REPO)
        assert gh.get_file_content(INSTALLATION, REPO, "README.md") == "# octo/hello\n"
        assert len(gh.list_hook_deliveries()) == 130  # the next page's link keeps the prefix

    assert len(fake.calls) == 6
    assert all(call.url_path.startswith("/api/v3/") for call in fake.calls)
    assert {call.status for call in fake.calls} == {200, 201}
