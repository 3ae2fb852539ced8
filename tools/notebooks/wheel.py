"""rpsbook as a notebook installs it: the site's wheel, by URL and SHA-256, and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from . import probe

# A pip command that names rpsbook without "@ <url>": what a package index would answer.
_BARE_INSTALL_RE = re.compile(r"pip\s+install\b[^\n]*\brpsbook\b(?![^\n]*@)[^\n]*")
_WHEEL_LINE_RE = re.compile(
    r"^RPSBOOK_WHEEL = '(?P<path>[^'#]+)#sha256=(?P<sha>[0-9a-f]{64})'$", re.M
)
# The first cell's last lines but one (docs/_ext/distribution.py): it runs the check that
# installs RPSBOOK_WHEEL from the site, through pip's hash check, where the kernel lacks it.
INSTALL_LINE = "_rpsbook_setup()"


def read_sums(site: Path) -> dict[str, str]:
    """``{file name: sha256}`` from the site's ``dist/SHA256SUMS``."""
    path = site / "dist" / "SHA256SUMS"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build the site with `nox -s docs` first")
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    return sums


def check_install_cells(notebook: Mapping, sums: Mapping[str, str]) -> list[str]:
    """Problems with how a notebook installs rpsbook (an empty list when there are none).

    The first code cell must install the site's wheel by URL with the SHA-256 the site
    lists for it; no cell may name ``rpsbook`` to ``pip install`` without an ``@ <url>``.
    """
    problems = []
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for number, source in enumerate(code, 1):
        for line in _BARE_INSTALL_RE.findall(source):
            problems.append(f"code cell {number} asks an index for a bare rpsbook: {line}")
    first = code[0] if code else ""
    wheel = _WHEEL_LINE_RE.search(first)
    if INSTALL_LINE not in (line.strip() for line in first.splitlines()) or wheel is None:
        problems.append("the first code cell does not install the site's wheel by URL and hash")
    elif sums.get(Path(wheel["path"]).name) != wheel["sha"]:
        problems.append(
            f"the first cell pins {wheel['path']} with sha256 {wheel['sha'][:12]}..., which is "
            "not the wheel of this site's dist/SHA256SUMS"
        )
    return problems


def _probe(env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run :mod:`~tools.notebooks.probe` as the kernels would (``-P``: its own folder is not
    put on ``sys.path``)."""
    return subprocess.run(
        [sys.executable, "-P", probe.__file__],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def installed_rpsbook(env: Mapping[str, str], cwd: Path) -> dict[str, object] | None:
    """File, version and pip's ``direct_url.json`` of the rpsbook the kernels would import;
    None when they cannot import it."""
    done = _probe(env, cwd)
    return json.loads(done.stdout) if done.returncode == 0 else None


def rpsbook_origin(env: Mapping[str, str], cwd: Path) -> Path:
    """Where the kernels import rpsbook from; raises if they cannot import it."""
    done = _probe(env, cwd)
    if done.returncode != 0:
        raise SystemExit(
            f"rpsbook is not importable by {sys.executable}: {done.stderr.strip()}\n"
            "Install the wheel first (nox -s notebooks does), e.g. "
            "pip install 'dist/rpsbook-*.whl[notebooks]' nbclient ipykernel"
        )
    return Path(json.loads(done.stdout)["file"]).resolve()


def uninstall_rpsbook() -> None:
    """Remove rpsbook from this interpreter's environment (a no-op when it is absent)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "rpsbook"],
        check=True,
        capture_output=True,
    )


def check_installed(found: Mapping[str, object] | None, site_url: str, sums: Mapping[str, str]):
    """Problems with the rpsbook a first cell installed: it must be the site's wheel."""
    if found is None:
        return ["after the first cell, rpsbook is not importable"]
    direct = found.get("direct_url") or {}
    url = direct.get("url", "")
    name = url.rsplit("/", 1)[-1]
    problems = []
    if url != f"{site_url}dist/{name}" or name not in sums:
        problems.append(f"rpsbook was installed from {url or 'an index'}, not the site's wheel")
    elif direct.get("archive_info", {}).get("hash") != f"sha256={sums[name]}":
        problems.append(f"the installed wheel's hash is not the site's: {direct}")
    return problems
