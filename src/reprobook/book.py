"""Rendering the book: executed chapters + scoreboard → HTML with Jupyter Book 1.x.

The book's pages for chapters are the notebooks executed by papermill into
``book/runs/<chapter>/``; the scoreboard (on the landing page and its own page) is generated
from their ``results.json`` records into ``book/_generated/``. The build runs with warnings as
errors, so a failed cell or a broken reference fails the command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from reprobook import chapters as _chapters
from reprobook.engine.results import claims_markdown, load_record

VERDICT_MARK = {"holds": "✅ holds", "does not hold": "❌ does not hold", "inconclusive": "➖ inconclusive"}


def book_runs_dir() -> Path:
    return _chapters.repo_root() / "book" / "runs"


def scoreboard_markdown(runs_root: Path) -> str:
    """Markdown tables of every chapter's claims and verdicts, from the run records under ``runs_root``."""
    summary = ["| chapter | claims | holds | does not hold | inconclusive | wall time |", "|---|---|---|---|---|---|"]
    details = []
    for ch in _chapters.available().values():
        path = runs_root / ch.name / "results.json"
        if not path.is_file():
            summary.append(f"| {ch.number}. {ch.title} | not run | | | | |")
            continue
        rec = load_record(path)
        counts = {v: sum(c["verdict"] == v for c in rec["claims"]) for v in VERDICT_MARK}
        summary.append(f"| {ch.number}. [{ch.title}](runs/{ch.name}/{ch.stem}) | {len(rec['claims'])} | "
                       f"{counts['holds']} | {counts['does not hold']} | {counts['inconclusive']} | "
                       f"{rec['wall_time_s']:.0f} s |")
        if rec["claims"]:
            marked = [{**c, "verdict": VERDICT_MARK[c["verdict"]]} for c in rec["claims"]]
            details.append(f"**{ch.number}. {ch.title}** (commit `{rec['git_commit'][:12]}`, seed {rec['seed']})\n\n"
                           + claims_markdown(marked).replace("**" + VERDICT_MARK["holds"] + "**", VERDICT_MARK["holds"]))
    # The landing page includes the summary only: it stops at the marker.
    return "\n".join(summary) + "\n\n<!-- details -->\n\n" + "\n\n".join(details) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """Rewrite only on change, so Sphinx's incremental build sees nothing new on a rerun."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def render(*, root: Path | None = None, builder: str = "html", quiet: bool = False) -> Path:
    """Write the scoreboard and build the HTML book from ``root`` (default: the repository).

    ``root`` holds ``_config.yml`` and ``book/`` with the executed chapters in ``book/runs/``;
    the site goes to ``root/_build/<builder>``, which is returned.
    """
    root = Path(root) if root is not None else _chapters.repo_root()
    runs_root = root / "book" / "runs"
    missing = [c.name for c in _chapters.available().values() if not (runs_root / c.name / c.notebook).is_file()]
    if missing:
        raise RuntimeError(f"chapters not executed yet: {', '.join(missing)} (run `reprobook book` to execute them)")
    write_if_changed(root / "book" / "_generated" / "scoreboard.md", scoreboard_markdown(runs_root))
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    cmd = [exe, "build", str(root), "--toc", str(root / "book" / "_toc.yml"), "--config", str(root / "_config.yml"),
           "--builder", builder, "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=quiet, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout or "")[-3000:] + (proc.stderr or "")[-3000:] if quiet else ""
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}); see the messages above{tail and ': ' + tail}")
    return root / "_build" / builder


def stage_sources(dest: Path) -> Path:
    """Copy the book's sources (``_config.yml`` and ``book/`` without runs) into ``dest``.

    Tests build the book there from smoke-mode runs, leaving the repository's build alone.
    """
    root = _chapters.repo_root()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "_config.yml", dest / "_config.yml")
    shutil.copytree(root / "book", dest / "book", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("runs", "_generated"))
    return dest
