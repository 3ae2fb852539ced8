"""The code of every downloaded notebook's first cell, as a module: ``first_cell`` copies
its text from the first ``def`` on into the cell, after the ``RPSBOOK_*`` values it writes,
and the build checks addresses with the same :func:`_rpsbook_site_address`.

Only the standard library: the cell runs in a kernel that may have nothing else.
"""

# ruff: noqa: F821 - the RPSBOOK_* names are the values the cell assigns above this code


def _rpsbook_site_address(value):
    """value as a site address, ending with a slash; ValueError says why it is not one."""
    import string
    import urllib.parse

    allowed = string.ascii_letters + string.digits + "-._~:/[]@!$&'()*+,;=%"
    bad = sorted(set(value) - set(allowed))
    parts = urllib.parse.urlsplit(value)
    if bad:
        raise ValueError(f"it holds {' '.join(repr(c) for c in bad)}")
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError("it is not an http, https or file URL")
    if parts.scheme != "file" and not parts.netloc:
        raise ValueError("it names no host")
    return value if value.endswith("/") else value + "/"


def _rpsbook_setup():
    import importlib.metadata
    import importlib.util
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.parse
    import urllib.request

    site = RPSBOOK_SITE

    def fail(url, what):
        raise RuntimeError(
            f"this notebook needs rpsbook {RPSBOOK_VERSION}, the build its page was executed "
            f"with, and cannot get it from {url}: {what}\nWhat to do, one of:\n"
            "- set RPSBOOK_SITE_URL to a copy of the site that answers (os.environ["
            "'RPSBOOK_SITE_URL'] = 'https://...' in a cell above) and run this cell again;\n"
            f"- open this page's current notebook: {site}{RPSBOOK_NOTEBOOK} (in Colab: "
            f"{RPSBOOK_COLAB});\n"
            f"- install rpsbook from a clone of {RPSBOOK_REPOSITORY} (pip install "
            "'<the clone>[notebooks]'), set RPSBOOK_KEEP_INSTALLED=1 and run this cell "
            "again: the last cell compares your numbers with the page's."
        ) from None

    def found_at(url):  # whether the site has this file; OSError when it cannot tell
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            return os.path.isfile(urllib.request.url2pathname(parts.path))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=20):
                return True
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                return False
            raise OSError(f"it answered {error}") from None

    def pip(requirements):
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input"]
        command += ["--no-color", "--disable-pip-version-check", "--progress-bar", "off"]
        command += ["--retries", "1", "--timeout", "30", *requirements]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    if os.environ.get("RPSBOOK_KEEP_INSTALLED") == "1":  # the reader's own rpsbook, by choice
        try:
            import rpsbook
        except ImportError as error:
            fail("this kernel", f"RPSBOOK_KEEP_INSTALLED=1, and it cannot import rpsbook: {error}")
        if rpsbook.__version__ != RPSBOOK_VERSION:
            print(
                f"Keeping rpsbook {rpsbook.__version__} (RPSBOOK_KEEP_INSTALLED=1); this page "
                f"ran {RPSBOOK_VERSION}, so its numbers may differ."
            )
        return
    try:
        found = importlib.metadata.version("rpsbook")
    except importlib.metadata.PackageNotFoundError:
        found = None
    loaded = "rpsbook" in sys.modules
    missing = [m for m in RPSBOOK_NEEDS if importlib.util.find_spec(m) is None]
    cosmetic = [m for m in RPSBOOK_COSMETIC if importlib.util.find_spec(m) is None]
    if found != RPSBOOK_VERSION or missing:
        value = os.environ.get("RPSBOOK_SITE_URL") or RPSBOOK_SITE
        try:
            site = _rpsbook_site_address(value)
        except ValueError as error:
            fail(f"RPSBOOK_SITE_URL={value!r}", f"that is not a site address: {error}")
        url = site + RPSBOOK_WHEEL
        has = f"rpsbook {found}" if found else "no rpsbook"
        has += f", lacks {', '.join(missing)}" if missing else ""
        print(f"Installing rpsbook {RPSBOOK_VERSION} from {site} (this kernel has {has}).")
        try:
            if not found_at(url.partition("#")[0]):
                if found_at(site + "dist/SHA256SUMS"):
                    fail(
                        url,
                        "the site no longer has it: this notebook comes from an earlier "
                        "build of the site, which has moved on",
                    )
                fail(url, f"{site} is not a copy of the site: it has no dist/SHA256SUMS")
        except OSError as error:
            fail(url, f"the site cannot be reached ({getattr(error, 'reason', error)})")
        done = pip([f"rpsbook @ {url}", *RPSBOOK_NEEDS.values()])
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()
            fail(url, "pip failed:\n  " + "\n  ".join(output[-12:]))
        if cosmetic and pip([RPSBOOK_COSMETIC[m] for m in cosmetic]).returncode != 0:
            print(f"Progress bars will be plain text: installing {', '.join(cosmetic)} failed.")
        importlib.invalidate_caches()
    elif cosmetic:
        print(f"Progress bars will be plain text: this kernel lacks {', '.join(cosmetic)}.")
    import rpsbook

    if rpsbook.__version__ != RPSBOOK_VERSION:
        where = f"rpsbook {rpsbook.__version__} from {os.path.dirname(rpsbook.__file__)}"
        if loaded:
            fail(
                site,
                f"this kernel had already imported {where}: restart the kernel (Colab: "
                "Runtime > Restart session) and run this cell again",
            )
        fail(
            site,
            f"this kernel imports {where}, which hides the installed build: run the "
            "notebook from another folder, without that one on sys.path",
        )
