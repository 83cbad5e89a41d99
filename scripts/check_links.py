"""Check a built HTML site for broken internal links: every local href/src must name a file that
exists, and every #anchor an id on the page it points to. External links are listed, not fetched.

    python scripts/check_links.py book/_build/html            # exit 1 and one line per broken link
    python scripts/check_links.py book/_build/html --external # also list the external links found

Standard library only, so that it runs in the book's own environment.
"""

from __future__ import annotations

import argparse
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRS = {"href", "src"}
SKIP_SCHEMES = {"http", "https", "mailto", "data", "javascript", "tel", "ftp"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in LINK_ATTRS:
                self.links.append(value)
            elif name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)


def _parse(page: Path, cache: dict[Path, _Page]) -> _Page:
    if page not in cache:
        parsed = _Page()
        parsed.feed(page.read_text(encoding="utf-8", errors="replace"))
        cache[page] = parsed
    return cache[page]


def _pages(root: Path) -> list[Path]:
    """The site's pages: Sphinx copies its themes' Jinja templates into _static as *.html; those are not
    pages."""
    return sorted(p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts)


def scan(root: str | Path) -> tuple[list[str], set[str]]:
    """(broken internal links as 'page: link (why)', external links) of every .html page under ``root``."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise SystemExit(f"check_links: {root} is not a folder; build the book first (make book).")
    cache: dict[Path, _Page] = {}
    broken: list[str] = []
    external: set[str] = set()
    for page in _pages(root):
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme in SKIP_SCHEMES or link.startswith("//"):
                if parts.scheme in ("http", "https") or link.startswith("//"):
                    external.add(link)
                continue
            if parts.scheme:  # another scheme we cannot check offline
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            where = f"{page.relative_to(root)}: {link}"
            if root not in target.parents and target != root:
                broken.append(f"{where} (points outside the site)")
                continue
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{where} (no such file)")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html" and anchor not in _parse(target, cache).ids:
                broken.append(f"{where} (no id '{anchor}' on {target.relative_to(root)})")
    return broken, external


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", help="the built HTML folder, e.g. book/_build/html")
    ap.add_argument("--external", action="store_true", help="also list the external links (not fetched)")
    a = ap.parse_args(argv)
    broken, external = scan(a.site)
    pages = len(_pages(Path(a.site).resolve()))
    for line in broken:
        print(f"broken: {line}")
    if a.external:
        for link in sorted(external):
            print(f"external: {link}")
    print(
        f"{pages} pages, {len(broken)} broken internal links, {len(external)} external links (not checked "
        "here)"
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
