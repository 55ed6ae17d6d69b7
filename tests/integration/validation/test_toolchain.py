"""Each validation's own toolchain: a fresh virtual environment first on PATH, caches in its folder."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.integration.validation.test_run_validation import config, validate

# A package that builds with no download: its PEP 517/660 backend is in the tree, so pip needs no
# network to install it, editable or not.
BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "tinypkg", "0.1"
DIST = f"{NAME}-{VERSION}.dist-info"


def _wheel(directory, files):
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    files = {**files, f"{DIST}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n",
             f"{DIST}/WHEEL": "Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = []
    with zipfile.ZipFile(os.path.join(directory, wheel), "w") as archive:
        for name, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
            archive.writestr(name, data)
        archive.writestr(f"{DIST}/RECORD", "\\n".join(record + [f"{DIST}/RECORD,,"]) + "\\n")
    return wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"tinypkg.py": open("tinypkg.py").read()})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"tinypkg.pth": os.path.abspath(".") + "\\n"})


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError
"""
PYPROJECT = (
    '[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n\n'
    '[project]\nname = "tinypkg"\nversion = "0.1"\n'
)
TINY_PACKAGE = {
    "pyproject.toml": PYPROJECT,
    "tiny_backend.py": BACKEND,
    "tinypkg.py": "def answer():\n    return 42\n",
}


def dist_infos(prefix: str) -> set[Path]:
    return set(Path(prefix).glob("lib/python*/site-packages/*.dist-info"))


def test_pip_installs_into_the_validations_own_environment_and_never_into_the_runners(git_server, tmp_path):
    before = dist_infos(sys.prefix)
    _, report = validate(
        git_server,
        tmp_path / "work",
        TINY_PACKAGE,
        config(
            test=[
                "python -c 'import sys, tinypkg; print(sys.prefix, tinypkg.answer())'",
                "pip --version",
                'echo "home=$HOME cache=$PIP_CACHE_DIR npm=$npm_config_cache"',
            ],
            setup=["python -m pip install -e ."],
        ),
    )
    assert report.verdict == "passed", report
    setup, imported, pip_version, variables = report.commands
    assert "Successfully installed tinypkg-0.1" in setup.output
    prefix, answer = imported.output.split()
    assert answer == "42"
    assert prefix.startswith(str(tmp_path / "work")) and prefix.endswith("/toolchain/venv")
    assert "pip " in pip_version.output
    home, cache, npm = (part.split("=", 1)[1] for part in variables.output.split())
    assert all(path.startswith(str(tmp_path / "work")) for path in (home, cache, npm))
    assert dist_infos(sys.prefix) == before
    assert not any("tinypkg" in path.name for path in dist_infos(sys.base_prefix))
