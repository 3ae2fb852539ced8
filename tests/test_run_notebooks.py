"""tools.notebooks (``python -m tools.notebooks``) on small fake notebooks, in real kernels of
this interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs_ext import ext_modules

from tools.notebooks import __main__ as cli
from tools.notebooks import network_guard, probe
from tools.notebooks.compare import compare_records, comparison_cell_problems
from tools.notebooks.execute import shown_twice
from tools.notebooks.kernel import install_guard, kernel_environment
from tools.notebooks.wheel import check_install_cells, check_installed, read_sums
from tools.serve import serve

ROOT = Path(__file__).resolve().parent.parent


def _record(quantity: str, ours: str, section: str = "Dropout") -> dict[str, str]:
    return {"section": section, "quantity": quantity, "ours": ours, "book": "-"}


def test_compare_records():
    page = [_record("sum", "5.5"), _record("accuracy", "88.7%")]
    assert compare_records(page, page) == []
    assert compare_records(page, [_record("sum", "5.5"), _record("accuracy", "88.4%")]) == [
        "'accuracy': notebook 88.4%, page 88.7%"
    ]
    assert compare_records(page, page[:1]) == ["missing value 'accuracy' (page: 88.7%)"]
    assert compare_records(page[:1], page) == ["extra value 'accuracy': 88.7% (not on the page)"]
    assert compare_records(page, page[::-1]) == [
        "value 1 is 'accuracy', the page's is 'sum'",
        "value 2 is 'sum', the page's is 'accuracy'",
    ]


def test_kernel_environment_is_a_readers(tmp_path):
    base = {
        "PATH": "/bin",
        "PYTHONPATH": "/checkout",
        "RPSBOOK_DATA_DIR": "/data",
        "RPSBOOK_PROGRESS": "0",
        "RPSBOOK_DEVICE": "cpu",
        "MPLBACKEND": "Agg",
    }
    env = kernel_environment(base, guard_dir=tmp_path / "g", cache_dir=tmp_path / "c")
    assert env == {
        "PATH": "/bin",
        "RPSBOOK_DEVICE": "cpu",
        "PYTHONPATH": str(tmp_path / "g"),
        "XDG_CACHE_HOME": str(tmp_path / "c"),
    }
    env = kernel_environment(base, guard_dir=tmp_path, cache_dir=tmp_path, data_dir=Path("/d"))
    assert env["RPSBOOK_DATA_DIR"] == "/d"


def test_network_guard_refuses_all_but_loopback(tmp_path):
    guard = install_guard(tmp_path / "guard")
    assert (guard / "sitecustomize.py").read_text() == Path(network_guard.__file__).read_text()
    probe_code = """
import socket
server = socket.create_server(("127.0.0.1", 0))
socket.create_connection(server.getsockname(), timeout=5).close()
attempts = (
    lambda: socket.create_connection(("example.org", 443), timeout=5),
    lambda: socket.socket().connect(("93.184.215.14", 443)),
    lambda: socket.socket().connect_ex(("::ffff:93.184.215.14", 443)),
)
for attempt in attempts:
    try:
        attempt()
    except OSError as err:
        print(type(err).__name__, err)
"""
    result = subprocess.run(
        [sys.executable, "-c", probe_code],
        env={"PYTHONPATH": str(guard), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    message = "network access is disabled while tools.notebooks runs notebooks"
    assert result.stdout.splitlines() == [
        f"gaierror [Errno -2] {message}: example.org",
        f"OSError {message}: 93.184.215.14",
        f"OSError {message}: ::ffff:93.184.215.14",
    ]


def test_network_guard_imported_by_name_changes_nothing():
    import socket

    assert socket.getaddrinfo.__module__ == "socket"  # the test process keeps its network
    local = ["", "localhost", "127.0.0.1", "127.8.9.1", "::1", "::1%lo"]
    assert all(network_guard.is_local(host) for host in local)
    assert not any(map(network_guard.is_local, ["example.org", "10.0.0.1", "fe80::1%lo"]))


def test_probe_describes_the_rpsbook_imported(tmp_path):
    import rpsbook

    assert probe.describe()["file"] == rpsbook.__file__
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-P", probe.__file__],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["file"] == str(ROOT / "rpsbook" / "__init__.py")


def _write_notebook(path: Path, *cells: tuple[str, str]) -> Path:
    notebook = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for kind, source in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return path


RECORD_CELL = """\
import os, pathlib
from rpsbook.report import compare_with_book
new = str(not (pathlib.Path.cwd() / "pyproject.toml").exists())
compare_with_book("cwd is new", new, "-", section="Dropout")
print("data dir:", os.environ.get("RPSBOOK_DATA_DIR"))
"""


SHA = "ab" * 32
WHEEL = "rpsbook-0.1.0-py3-none-any.whl"
# Passes the install check without installing anything (the real cell is distribution.py's).
INSTALL_CELL = f"""\
RPSBOOK_WHEEL = 'dist/{WHEEL}#sha256={SHA}'
_rpsbook_setup = list
_rpsbook_setup()
"""


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "dist").mkdir(parents=True)
    (site / "dist" / "SHA256SUMS").write_text(f"{SHA}  {WHEEL}\n{'cd' * 32}  x.tar.gz\n")
    (site / "dist" / WHEEL).write_bytes(b"not really a wheel")
    return site


def _notebook(cells) -> dict:
    kinds = {"code": {"outputs": [], "execution_count": None}, "markdown": {}}
    return {
        "cells": [
            {"cell_type": kind, "source": source, "metadata": {}, **kinds[kind]}
            for kind, source in cells
        ]
    }


def test_check_install_cells():
    sums = {WHEEL: SHA}
    good = _notebook([("markdown", "# x"), ("code", INSTALL_CELL), ("code", "1")])
    assert check_install_cells(good, sums) == []
    assert check_install_cells(good, {WHEEL: "ef" * 32}) == [
        f"the first cell pins dist/{WHEEL} with sha256 abababababab..., which is not the wheel "
        "of this site's dist/SHA256SUMS"
    ]
    bare = _notebook([("code", INSTALL_CELL), ("code", "%pip install -q 'rpsbook[notebooks]'")])
    assert check_install_cells(bare, sums) == [
        "code cell 2 asks an index for a bare rpsbook: pip install -q 'rpsbook[notebooks]'"
    ]
    old = _notebook([("code", '%pip install --quiet "rpsbook[notebooks]"')])
    assert check_install_cells(old, sums) == [
        'code cell 1 asks an index for a bare rpsbook: pip install --quiet "rpsbook[notebooks]"',
        "the first code cell does not install the site's wheel by URL and hash",
    ]


def test_serve_and_read_sums(tmp_path):
    import urllib.request

    site = _site(tmp_path)
    assert read_sums(site) == {WHEEL: SHA, "x.tar.gz": "cd" * 32}
    with serve(site) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}dist/{WHEEL}") as response:
            assert response.read() == b"not really a wheel"
    with pytest.raises(SystemExit, match="SHA256SUMS is missing"):
        read_sums(tmp_path)


def test_check_installed():
    site = "http://127.0.0.1:9/"
    sums = {WHEEL: SHA}
    direct = {"url": f"{site}dist/{WHEEL}", "archive_info": {"hash": f"sha256={SHA}"}}
    assert check_installed({"direct_url": direct}, site, sums) == []
    assert check_installed(None, site, sums) == ["after the first cell, rpsbook is not importable"]
    assert check_installed({"direct_url": None}, site, sums) == [
        "rpsbook was installed from an index, not the site's wheel"
    ]
    other = {**direct, "archive_info": {"hash": "sha256=" + "00" * 32}}
    assert check_installed({"direct_url": other}, site, sums)[0].startswith(
        "the installed wheel's hash is not the site's"
    )


def _add_comparison_cell(path: Path, *values: tuple[str, str]) -> None:
    """The last cell the docs build adds: the page's values next to the notebook's."""
    environment = {"torch": "2", "torchvision": "0", "device": "cpu", "threads": 2}
    page = {
        "environment": {**environment, "cpu_kernels": "AVX2"},
        "values": [{"section": "Dropout", "quantity": q, "ours": v} for q, v in values],
    }
    with ext_modules("notebook_cells") as ext:
        path.write_text(ext.notebook_cells.add_comparison_cell(path.read_text(), page))


def test_comparison_cell_problems():
    cell = (True, "Your run vs this page\n  ...\n2 of 2 values equal the page's.\n")
    assert comparison_cell_problems(cell, 2, True) == []
    assert comparison_cell_problems(cell, 3, False) == [
        'the last cell does not say "of 3 values equal the page\'s;": '
        '"2 of 2 values equal the page\'s."'
    ]
    assert comparison_cell_problems((False, "x"), 2, True) == [
        "the last cell is not 'Your run vs this page' (notebook_links did not add it)"
    ]
    empty = (True, "Your run vs this page\nThis page records no values to compare.\n")
    assert comparison_cell_problems(empty, 0, True) == []
    checked_first = (True, "sum: 6.6 | book: 6.6\n" + cell[1])
    assert comparison_cell_problems(checked_first, 2, True) == []
    other = (True, "sum: 6.6 | book: 6.6\n")
    assert comparison_cell_problems(other, 1, True) == [
        "the last cell printed 'sum: 6.6 | book: 6.6\\n', not 'Your run vs this page'"
    ]


def test_main_runs_checks_and_compares(tmp_path, monkeypatch, capsys):
    site = _site(tmp_path)
    notebooks = site / "notebooks"
    _write_notebook(
        notebooks / "plot_01_good.ipynb",
        ("markdown", "# Good\n\nSee [the API](https://example.org/api.html)."),
        ("code", INSTALL_CELL),
        ("code", RECORD_CELL),
    )
    _write_notebook(
        notebooks / "plot_02_bad.ipynb",
        ("markdown", "Uses :func:`rpsbook.x` (`sphx_glr_auto_examples_plot_01_good.py`)."),
        ("code", RECORD_CELL),
        ("code", "raise ValueError('the notebook broke')"),
    )
    _add_comparison_cell(notebooks / "plot_01_good.ipynb", ("cwd is new", "True"))
    results = tmp_path / "results"
    for stem in ("plot_01_good", "plot_02_bad"):
        (results / stem).mkdir(parents=True)
        line = json.dumps(_record("cwd is new", "True")) + "\n"
        (results / stem / "dropout.jsonl").write_text(line)
    (results / "plot_01_good" / "dropout.jsonl").write_text(
        json.dumps(_record("cwd is new", "True"))
        + "\n"
        + json.dumps(_record("never measured", "1"))
        + "\n"
    )
    monkeypatch.setenv("RPSBOOK_DATA_DIR", "/should/not/reach/the/kernel")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    argv = [str(site), "--results", str(results), "--allow-checkout", "--timeout", "120"]
    assert cli.main(argv) == 1
    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "jupyter")  # the kernel spec's is gone
    out = capsys.readouterr().out
    assert "ok     plot_01_good.ipynb" not in out  # it misses one of the page's values
    assert "FAILED plot_01_good.ipynb" in out
    assert "missing value 'never measured' (page: 1)" in out
    assert "FAILED plot_02_bad.ipynb" in out
    assert "the first code cell does not install the site's wheel by URL and hash" in out
    assert (
        "2 raw Sphinx roles/labels in Markdown: :func:`, sphx_glr_auto_examples_plot_01_good"
        in out
    )
    assert "ValueError: the notebook broke" in out
    assert "the last cell is not 'Your run vs this page'" in out  # plot_02_bad has none
    assert "2 notebooks in" in out

    (results / "plot_01_good" / "dropout.jsonl").write_text(
        json.dumps(_record("cwd is new", "True")) + "\n"
    )
    executed = tmp_path / "executed"
    argv += ["--only", "good", "--output", str(executed)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "ok     plot_01_good.ipynb" in out
    assert "1 values checked against 1 on the page" in out
    notebook = json.loads((executed / "plot_01_good.ipynb").read_text())
    assert "".join(notebook["cells"][2]["outputs"][0]["text"]) == "data dir: None\n"
    # the kernel is told where the served copy of the site is
    assert "site served at http://127.0.0.1:" in out
    printed = "".join(notebook["cells"][-1]["outputs"][0]["text"]).splitlines()
    assert printed[0] == "Your run vs this page"
    assert printed[-2:] == ["same      cwd is new: True", "1 of 1 values equal the page's."]


def test_main_refuses_an_rpsbook_from_the_checkout(tmp_path, monkeypatch):
    site = _site(tmp_path)
    _write_notebook(site / "notebooks" / "plot_01.ipynb", ("code", INSTALL_CELL))
    (tmp_path / "results").mkdir()
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setattr(cli, "rpsbook_origin", lambda env, cwd: ROOT / "rpsbook" / "x.py")
    with pytest.raises(SystemExit, match="import rpsbook from this checkout"):
        cli.main([str(site), "--results", str(tmp_path / "results")])


def test_shown_twice_names_cells_whose_value_is_a_figure():
    figure = {"image/png": "iVBOR...", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    notebook = _notebook([("code", "fig = plot()\nbook_figure(fig)"), ("code", "fig = plot()")])
    notebook["cells"][0]["outputs"] = [
        {"output_type": "execute_result", "data": figure, "metadata": {}, "execution_count": 1},
        {"output_type": "display_data", "data": figure, "metadata": {}},
    ]
    notebook["cells"][1]["outputs"] = [{"output_type": "display_data", "data": figure}]
    assert shown_twice(notebook) == [
        "cell 0 ends with an expression whose value is a figure ('book_figure(fig)'): Jupyter "
        "shows it twice"
    ]
