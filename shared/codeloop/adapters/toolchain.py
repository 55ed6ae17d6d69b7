"""A validation's own writable toolchain, as CI runners give: a fresh virtual environment first on
``PATH`` and every package cache inside the validation's folder.

So ``python -m pip install -e . pytest``, ``npm ci`` and the like work on Lambda, where all but
``/tmp`` is read-only, and never change the runner's or the image's Python.

The environment is made without pip (``ensurepip`` takes seconds; an empty environment takes
milliseconds): a ``.pth`` file puts the pip wheel the standard library bundles for ``ensurepip``
on the environment's path, so ``python -m pip`` and ``pip`` run pip straight from that wheel. A
``pip install --upgrade pip`` installs a real pip in the environment, which then comes first.
Where the interpreter bundles no pip wheel (some distributions strip it), pip is installed with
``ensurepip`` instead.
"""

from __future__ import annotations

import ensurepip
import os
import venv
from dataclasses import dataclass
from pathlib import Path

PIP_SCRIPT = '#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n'
PIP_PATH_FILE = "_codeloop_bundled_pip.pth"


@dataclass(frozen=True)
class Toolchain:
    """Where one validation's interpreter and caches live."""

    venv: Path
    cache: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def environment(self, base_path: str) -> dict[str, str]:
        """Variables that point every tool at this toolchain (``PATH`` put in front of
        ``base_path``), added to the sandbox's environment."""
        cache = str(self.cache)
        return {
            "PATH": f"{self.bin}{os.pathsep}{base_path}",
            "VIRTUAL_ENV": str(self.venv),
            "XDG_CACHE_HOME": cache,
            "PIP_CACHE_DIR": f"{cache}/pip",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "npm_config_cache": f"{cache}/npm",
            "npm_config_update_notifier": "false",
            "YARN_CACHE_FOLDER": f"{cache}/yarn",
            "GOCACHE": f"{cache}/go-build",
            "GOMODCACHE": f"{cache}/go-mod",
            "CARGO_HOME": f"{cache}/cargo",
        }


def bundled_pip_wheel() -> Path | None:
    """The pip wheel this interpreter ships for ``ensurepip``, if it kept one."""
    wheels = sorted(Path(ensurepip.__file__).parent.glob("_bundled/pip-*.whl"))
    return wheels[-1] if wheels else None


def create(root: Path, owner: tuple[int, int] | None = None) -> Toolchain:
    """A fresh virtual environment of the runner's Python at ``root/venv`` and an empty cache
    folder ``root/cache``, both owned by ``owner`` (uid, gid) when given. ``root`` must not exist."""
    root.mkdir(mode=0o700)
    toolchain = Toolchain(venv=root / "venv", cache=root / "cache")
    wheel = bundled_pip_wheel()
    builder = venv.EnvBuilder(symlinks=True, with_pip=wheel is None)
    builder.create(toolchain.venv)
    if wheel is not None:
        site_packages = next((toolchain.venv / "lib").glob("python*/site-packages"))
        (site_packages / PIP_PATH_FILE).write_text(f"{wheel}\n")
        for name in ("pip", "pip3"):
            script = toolchain.bin / name
            script.write_text(PIP_SCRIPT)
            script.chmod(0o755)
    toolchain.cache.mkdir(mode=0o700)
    if owner is not None:
        _chown_tree(root, *owner)
    return toolchain


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for folder, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
