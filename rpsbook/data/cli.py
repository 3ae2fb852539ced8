"""``python -m rpsbook.data {locate,download,extract}``: the data's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .download import download_rps
from .embedded import extract_embedded
from .errors import DataNotFoundError
from .files import default_cache_dir
from .sources import SOURCES, locate


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rpsbook.data {locate,download,extract}``.

    ``locate`` prints the path that will be used (a folder, or the embedded ``.npz``) and, on
    stderr, why; it writes nothing. ``download`` fetches the full-size originals (into
    ``--root`` or the user cache). ``extract`` writes the embedded copy as PNGs (into
    ``--root`` or ``<user cache>/rps28``) and prints the folder.
    """
    parser = argparse.ArgumentParser(prog="python -m rpsbook.data", description=main.__doc__)
    parser.add_argument("command", choices=["locate", "download", "extract"])
    parser.add_argument("--root", help="folder to use instead of the default lookup")
    parser.add_argument("--source", choices=SOURCES, help="embedded (default) or download")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            path = download_rps(args.root or default_cache_dir())
        elif args.command == "extract":
            path = extract_embedded(args.root or default_cache_dir() / "rps28")
        else:
            found = locate(args.root, source=args.source)
            print(f"rpsbook: using {found.describe()}", file=sys.stderr)
            path = found.path
    except (DataNotFoundError, OSError, ValueError) as exc:
        print(f"rpsbook: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
