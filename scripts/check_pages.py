"""Render every page of a built book in headless Chromium, at a desktop width (1280 px) and a phone's
(390 px), and list what a reader could not read:

- text cut off by its container (a box with overflow hidden or clip whose text runs past its edge),
- content that runs past the screen's edge outside a box that scrolls (the page itself scrolling sideways
  counts: on a phone the reader has to pan the whole page),
- figure text rendered under 9 px: a figure written by ``fer_report.figures`` records the smallest font
  size it uses, in pixels at the image's natural size (a PNG text chunk or a JPEG comment,
  ``min_font_px``); shown at another width, that size scales with the rendered width.

    python scripts/check_pages.py book/_build/html     # exit 1 and one line per problem

Figures without the record are listed separately (they were made before figures carried it). Standard
library only: Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``), one browser for
every page, so this runs in the book's own environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

# name: (width, height, a phone?); on a phone a wide table may scroll sideways, on a desktop it must fit
WIDTHS = {"desktop": (1280, 900, False), "phone": (390, 844, True)}
MIN_FIGURE_TEXT_PX = 9.0
RECORD_KEY = "min_font_px"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: $CHROMIUM if set, else the first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


# --------------------------------------------------------------------------- the recorded font size


def recorded_font_px(data: bytes) -> float | None:
    """The smallest font size (px at natural size) a PNG or JPEG records under ``min_font_px``, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            body = data[pos + 8 : pos + 8 + length]
            if kind == b"tEXt":
                key, _, value = body.partition(b"\0")
                if key.decode("latin-1") == RECORD_KEY:
                    return float(value.decode("latin-1"))
            if kind == b"IEND":
                break
            pos += 12 + length
        return None
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if marker == 0xFE:
                m = re.match(rb"min_font_px=([0-9.]+)", data[pos + 4 : pos + 2 + length])
                if m:
                    return float(m.group(1))
            if marker == 0xDA:  # start of scan: no more headers
                break
            pos += 2 + length
    return None


# --------------------------------------------------------------------------- Chromium over its pipe


class Chromium:
    """A headless Chromium driven over the DevTools protocol on file descriptors 3 and 4."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="check-pages-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # in the child: the protocol pipe on fds 3 (commands in) and 4 (replies out)
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "--allow-file-access-from-files",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise OSError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params: object) -> dict:
        """Send one command and wait for its reply (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str, session: str) -> dict:
        """The next event ``method`` of ``session``."""
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._read())

    def tab(self, width: int, height: int, mobile: bool) -> str:
        """A new tab of the given viewport (CSS px, one device pixel each); its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self.send("Page.enable", session)
        return session

    def open(self, session: str, url: str) -> None:
        """Load ``url`` and wait until its images, fonts and math are laid out."""
        self._events = [e for e in self._events if e.get("sessionId") != session]
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        self.evaluate(session, SETTLE_JS)

    def evaluate(self, session: str, expression: str) -> object:
        """The value of a JavaScript expression in the tab (awaited if it is a promise)."""
        result = self.send(
            "Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")


SETTLE_JS = """
(async () => {
  await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
})()
"""

# What a reader cannot read, found in the rendered page. Text nodes are measured with ranges, so a box
# is only blamed for text that really lies past its edge, not for a wide child that holds nothing.
PROBLEMS_JS = """
((mayScroll) => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const name = el => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 2).join('.');
    return s;
  };
  const where = el => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      parts.unshift(name(e));
    }
    return parts.join(' > ');
  };
  const snippet = t => t.replace(/\\s+/g, ' ').trim().slice(0, 60);
  const shown = el => {
    const s = getComputedStyle(el);
    return s.display !== 'none' && s.visibility !== 'hidden' && el.getClientRects().length > 0;
  };
  const scrolls = s => ['auto', 'scroll'].includes(s.overflowX);
  const clips = (s, axis) => ['hidden', 'clip'].includes(axis === 'x' ? s.overflowX : s.overflowY);
  // text nodes with their rectangles, skipping text inside hidden or off-canvas parts of the page
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim() || !n.parentElement || !shown(n.parentElement)) continue;
    if (n.parentElement.closest('script, style, noscript, mjx-assistive-mml')) continue;
    const r = document.createRange();
    r.selectNodeContents(n);
    const rects = [...r.getClientRects()].filter(q => q.width > 0 && q.height > 0);
    if (rects.length) texts.push({node: n, rects});
  }
  // 1. text cut off by a box that hides its overflow
  for (const el of document.body.querySelectorAll('*')) {
    if (!shown(el)) continue;
    const s = getComputedStyle(el);
    // on a desktop a box that scrolls sideways hides text just the same (code listings aside)
    const hides = clips(s, 'x') || (!mayScroll && scrolls(s) && !el.closest('pre, .highlight'));
    const cx = hides && el.scrollWidth > el.clientWidth + 1;
    const cy = clips(s, 'y') && el.scrollHeight > el.clientHeight + 1;
    if (!cx && !cy) continue;
    const b = el.getBoundingClientRect();
    const left = b.left + el.clientLeft, top = b.top + el.clientTop;
    const right = left + el.clientWidth, bottom = top + el.clientHeight;
    if (right <= 0 || left >= vw) continue;  // an off-canvas panel, not shown
    for (const t of texts) {
      if (!el.contains(t.node)) continue;
      const cut = t.rects.some(q => (cx && (q.right > right + 1 || q.left < left - 1)) ||
                                    (cy && (q.bottom > bottom + 1 || q.top < top - 1)));
      if (cut) {
        out.push({kind: 'cut', where: where(el), text: snippet(t.node.textContent)});
        break;
      }
    }
  }
  // 2. text that crosses the screen's edge outside a box that scrolls sideways
  // inside a box that scrolls sideways (readable), or that clips (then reported above if cut)
  const inScroller = el => {
    for (let e = el; e && e !== document.body && e !== document.documentElement; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (scrolls(s) || clips(s, 'x')) return true;
    }
    return false;
  };
  const seen = new Set();
  for (const t of texts) {
    const crosses = t.rects.some(q => q.right > vw + 1 && q.left < vw);
    if (!crosses || inScroller(t.node.parentElement)) continue;
    const w = where(t.node.parentElement);
    if (seen.has(w)) continue;
    seen.add(w);
    out.push({kind: 'offscreen', where: w, text: snippet(t.node.textContent)});
  }
  for (const img of document.images) {
    if (!shown(img)) continue;
    const q = img.getBoundingClientRect();
    if (q.right > vw + 1 && q.left < vw && !inScroller(img))
      out.push({kind: 'offscreen', where: where(img), text: img.getAttribute('src')});
  }
  const page = document.scrollingElement.scrollWidth;
  if (page > vw + 1) out.push({kind: 'page', where: 'html', text: `${page} px wide on a ${vw} px screen`});
  // 3. every image shown, with its rendered and natural width, for the figure-text check
  const images = [...document.images].filter(i => shown(i) && i.naturalWidth > 0).map(i => ({
    src: i.currentSrc || i.src, rendered: i.getBoundingClientRect().width, natural: i.naturalWidth,
  }));
  return {problems: out, images};
})(MAY_SCROLL)
"""


# --------------------------------------------------------------------------- the check


WHAT = {"cut": "text cut off by", "offscreen": "runs past the screen in", "page": "page is"}


@dataclass
class Report:
    """What the pages showed: problems (one line each), the figures without a font record by page, and
    how many pages were checked."""

    problems: list[str] = field(default_factory=list)
    unrecorded: dict[str, list[str]] = field(default_factory=dict)
    pages: int = 0


def image_path(src: str, page: Path) -> Path | None:
    """The file an <img> shows, for a file:// URL or a path relative to its page."""
    parts = urlsplit(src)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("", None):
        return (page.parent / unquote(parts.path)).resolve()
    return None


def check_pages(
    pages: list[Path], executable: str | None = None, widths: dict | None = None, root: Path | None = None
) -> Report:
    """Render each page at each width in one browser and collect what a reader could not read."""
    executable = executable or find_chromium()
    if not executable:
        raise FileNotFoundError("no Chromium found: install the chromium package or set $CHROMIUM")
    report = Report(pages=len(pages))
    fonts: dict[Path, float | None] = {}
    with Chromium(executable) as browser:
        for width, height, mobile in (widths or WIDTHS).values():
            tab = browser.tab(width, height, mobile)
            script = PROBLEMS_JS.replace("MAY_SCROLL", "true" if mobile else "false")
            for page in pages:
                shown_as = str(page.relative_to(root) if root else page.name)
                browser.open(tab, page.resolve().as_uri())
                found = browser.evaluate(tab, script)
                for p in found["problems"]:
                    report.problems.append(
                        f"{shown_as} at {width} px: {WHAT[p['kind']]} {p['where']}: {p['text']!r}"
                    )
                for img in found["images"]:
                    path = image_path(img["src"], page)
                    if path is None or not path.is_file():
                        continue
                    if path not in fonts:
                        fonts[path] = recorded_font_px(path.read_bytes())
                    if fonts[path] is None:
                        names = report.unrecorded.setdefault(shown_as, [])
                        names += [] if path.name in names else [path.name]
                        continue
                    px = fonts[path] * img["rendered"] / img["natural"]
                    if px < MIN_FIGURE_TEXT_PX:
                        report.problems.append(
                            f"{shown_as} at {width} px: figure text {px:.1f} px in {path.name} (recorded "
                            f"{fonts[path]:.1f} px at {img['natural']} px wide, "
                            f"shown {img['rendered']:.0f} px)"
                        )
    return report


def site_pages(html: Path) -> list[Path]:
    """The pages of a built book: every .html file but Sphinx's own (search, index, redirects)."""
    skip = {"search.html", "genindex.html", "index.html"}
    return sorted(p for p in html.glob("*.html") if p.name not in skip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built site, e.g. book/_build/html")
    args = parser.parse_args(argv)
    if not args.html.is_dir():
        print(f"{args.html}: not a folder; build the book first (make book).", file=sys.stderr)
        return 2
    report = check_pages(site_pages(args.html), root=args.html)
    for line in report.problems:
        print(line)
    for page, names in report.unrecorded.items():
        print(f"{page}: {len(names)} figures carry no font record (made before figures recorded it)")
    widths = " and ".join(f"{w[0]} px" for w in WIDTHS.values())
    print(f"{report.pages} pages at {widths}: {len(report.problems)} problems")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
