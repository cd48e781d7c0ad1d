"""Rendering the book: executed chapters + scoreboard → HTML with Jupyter Book 1.x.

The book's pages for chapters are the notebooks executed by papermill into
``book/runs/<chapter>/``; the scoreboard (on the landing page and its own page) and the timing
table (on the how-to-run page) are generated from their ``results.json`` records into
``book/_generated/``. With ``$REPROBOOK_REPOSITORY_URL`` set to a GitHub repository, each chapter
page gets Colab and Binder links to its committed notebook and the site a repository button. The build runs with warnings as
errors, so a failed cell or a broken reference fails the command.

The site is self-contained: MathJax is served from the site itself (``sphinx-mathjax-offline``),
and the pages carry no widget state, so nothing is fetched from a CDN when a page is read. In each
executed chapter, progress-bar widgets become the text line they ended on and the live controls
of *Explore* become a note pointing to a live run (the static figure at the default values sits
right above them); the notebooks' stored widget state is dropped.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from reprobook import chapters as _chapters
from reprobook.engine.results import claims_markdown, load_record, verdict_badge

REPOSITORY_ENV = "REPROBOOK_REPOSITORY_URL"
BRANCH_ENV = "REPROBOOK_REPOSITORY_BRANCH"
LAUNCH_CELL_ID = "reprobook-launch"  # marks the inserted links cell, so a rebuild replaces it
CODE_CELL_ID = "reprobook-code"  # marks the inserted "code that ran" cell
_GITHUB_URL = re.compile(r"https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)(?:\.git)?/?")
_BRANCH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")

VERDICT_MARK = {v: verdict_badge(v) for v in ("holds", "does not hold", "inconclusive", "not tested")}  # text badges, no emoji


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LIVE_CONTROLS_NOTE = ("*Interactive controls: they need a running kernel. Open this chapter live (JupyterLab, "
                      "Colab or Binder) to move them; the figure above shows their default values.*")
_PROGRESS = {"FloatProgressModel", "IntProgressModel"}


def _progress_line(model_id: str, state: dict) -> str | None:
    """The text a tqdm progress-bar widget ended on (``desc: 100%|██████████| 400/400 [...]``), or
    None when ``model_id`` is not a progress bar (an ``HBox`` of a label, a progress and a label)."""
    box = state.get(model_id, {})
    kids = [state.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in box.get("state", {}).get("children", [])]
    if box.get("model_name") != "HBoxModel" or not any(k.get("model_name") in _PROGRESS for k in kids):
        return None
    line = ""
    for k in kids:
        ks = k.get("state", {})
        if k.get("model_name") in _PROGRESS:
            lo, hi, v = ks.get("min", 0) or 0, ks.get("max", 100) or 100, ks.get("value", 0) or 0
            filled = round(10 * max(0.0, min(1.0, (v - lo) / (hi - lo)))) if hi > lo else 0
            line += "|" + "█" * filled + " " * (10 - filled) + "|"
        elif isinstance(ks.get("value"), str):
            text = html.unescape(re.sub(r"<[^>]+>", "", ks["value"])).replace("\u2007", " ").strip()
            line += (" " if line and text else "") + text
    return line


def static_widgets(nb) -> int:
    """Make an executed notebook's widget outputs static, in place; returns how many were replaced.

    A progress bar becomes a stdout line with the text it ended on (consecutive lines merge into one
    output); any other widget (the live controls of *Explore*) becomes :data:`LIVE_CONTROLS_NOTE`.
    The notebook's widget state, which the book would otherwise embed in the page with a script
    from a CDN to draw it, is removed.
    """
    import nbformat

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") in ("display_data", "execute_result") else None
            if view is None:
                outputs.append(out)
                continue
            replaced += 1
            line = _progress_line(view.get("model_id", ""), state)
            if line is None:
                if not any(o.get("data", {}).get("text/markdown") == LIVE_CONTROLS_NOTE for o in outputs):
                    outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": LIVE_CONTROLS_NOTE}))
            elif outputs and outputs[-1].get("output_type") == "stream" and outputs[-1].get("name") == "stdout":
                outputs[-1]["text"] = outputs[-1]["text"] + line + "\n"
            else:
                outputs.append(nbformat.v4.new_output("stream", name="stdout", text=line + "\n"))
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return replaced


def code_that_ran(chapter: _chapters.Chapter) -> str:
    """Markdown showing the chapter's key code (``chapter.key_code``), read from ``src/`` when the
    page is built, each object with its docstring, file and line numbers."""
    import importlib
    import inspect

    parts = ["## The code that ran",
             "The method's key code, read from the package when this page was built, so it is the code of this "
             "build (the full package is in `src/`; each block names its file and lines)."]
    for ref in chapter.key_code:
        module, qualname = ref.split(":")
        obj = importlib.import_module(module)
        for name in qualname.split("."):
            obj = getattr(obj, name)
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
        try:
            shown = path.relative_to(_chapters.repo_root()).as_posix()
        except (ValueError, _chapters.SourceCheckoutError):
            shown = module.replace(".", "/") + ".py"
        source = "".join(lines).rstrip("\n")
        fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", source)), default=0))
        parts.append(f"### `{module}.{qualname}`\n\n`{shown}`, lines {first}–{first + len(lines) - 1}\n\n"
                     f"{fence}python\n{source}\n{fence}")
    return "\n\n".join(parts)


def book_runs_dir() -> Path:
    return _chapters.repo_root() / "book" / "runs"


def _records(runs_root: Path):
    """``(chapter, record or None)`` for every available chapter, in book order."""
    for ch in _chapters.available().values():
        path = runs_root / ch.name / "results.json"
        yield ch, (load_record(path) if path.is_file() else None)


def _median(xs: list[int]) -> str:
    xs = sorted(x for x in xs if isinstance(x, int))
    if not xs:
        return "—"
    k = len(xs) // 2
    return f"{xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2:g}"


def _counts(claims: list[dict]) -> str:
    """``holds / does not hold / inconclusive / not tested`` counts; holds whose arms all lose to a baseline apart."""
    h = sum(c["verdict"] == "holds" and not c.get("beaten_by") for c in claims)
    hb = sum(c["verdict"] == "holds" and bool(c.get("beaten_by")) for c in claims)
    n = sum(c["verdict"] == "does not hold" for c in claims)
    i = sum(c["verdict"] == "inconclusive" for c in claims)
    u = sum(c["verdict"] == "not tested" for c in claims)
    return f"{h} / {n} / {i} / {u}" + (f" (+{hb} below a baseline)" if hb else "")


def scoreboard_markdown(runs_root: Path) -> str:
    """Markdown tables of every chapter's claims and verdicts, from the run records under ``runs_root``.

    The summary counts the papers' own claims apart from extensions and checks (only paper claims
    count as reproduced or not), with the median n behind each chapter's verdicts; a claim that
    "holds" while every arm loses to a named reference baseline is counted apart.
    """
    summary = ["| chapter | paper claims: holds / does not hold / inconclusive / not tested | extensions | checks | median n "
               "| wall time |", "|---|---|---|---|---|---|"]
    details = []
    total = {k: [] for k in ("paper", "extension", "check")}
    for ch, rec in _records(runs_root):
        if rec is None:
            summary.append(f"| {ch.number}. {ch.title} | not run | | | | |")
            continue
        by_kind = {k: [c for c in rec["claims"] if c.get("kind", "paper") == k] for k in total}
        for k, cs in by_kind.items():
            total[k] += cs
        summary.append(f"| {ch.number}. [{ch.title}](runs/{ch.name}/{ch.stem}) | {_counts(by_kind['paper'])} | "
                       f"{_counts(by_kind['extension'])} | {_counts(by_kind['check'])} | "
                       f"{_median([c.get('n') for c in rec['claims']])} | {rec['wall_time_s']:.0f} s |")
        if rec["claims"]:
            details.append(f"**{ch.number}. {ch.title}** (commit `{rec['git_commit'][:12]}`, seed {rec['seed']})\n\n"
                           + claims_markdown(rec["claims"], VERDICT_MARK))
    summary.append(f"| **all chapters** | {_counts(total['paper'])} | {_counts(total['extension'])} | "
                   f"{_counts(total['check'])} | {_median([c.get('n') for cs in total.values() for c in cs])} | |")
    # The landing page includes the summary only: it stops at the marker.
    return "\n".join(summary) + "\n\n<!-- details -->\n\n" + "\n\n".join(details) + "\n"


def budget_note(wall_s: float, budget_s: int, rec: dict) -> str:
    """Why a run may have exceeded its budget, from what its record measured; empty within budget."""
    if wall_s <= budget_s:
        return ""
    note = f"**over budget** (×{wall_s / budget_s:.1f})"
    load, cpus, threads = rec.get("load"), rec.get("cpus"), rec.get("threads")
    if isinstance(load, (int, float)) and isinstance(cpus, int) and load > cpus:
        return note + f": the machine's load was {load:g} on {cpus} CPUs, so other work shared its cores"
    if isinstance(threads, int) and isinstance(cpus, int) and threads > cpus:
        return note + f": torch ran {threads} threads on {cpus} CPUs"
    if load is None:
        return note + ": the record predates load measurement; a busy machine is the usual cause"
    return note + ": on an unloaded machine, so the run itself is slower than its budget"


def timings_markdown(runs_root: Path) -> str:
    """Markdown table of each chapter's measured wall time next to its budget, from the run records;
    a run over its budget says so and why it may be (machine load, threads), and a last row sums them."""
    rows = ["| chapter | measured wall time | budget | preset | torch threads | CPUs | machine load | note |",
            "|---|---|---|---|---|---|---|---|"]
    total, budgets = 0.0, 0
    for ch, rec in _records(runs_root):
        if rec is None:
            rows.append(f"| {ch.number}. {ch.title} | not run | {ch.budget_s} s | | | | | |")
            continue
        params = rec["parameters"]
        smoke = bool(params.get("smoke"))
        preset = f"`{params.get('preset', '?')}`" + (" (smoke)" if smoke else "")
        budget = ch.smoke_budget_s if smoke else ch.budget_s
        load = rec.get("load")
        total, budgets = total + rec["wall_time_s"], budgets + budget
        rows.append(f"| {ch.number}. {ch.title} | {rec['wall_time_s']:.0f} s | {budget} s | {preset} | "
                    f"{rec.get('threads', '—')} | {rec.get('cpus', '—')} | {'—' if load is None else f'{load:g}'} | "
                    f"{budget_note(rec['wall_time_s'], budget, rec)} |")
    rows.append(f"| **all chapters, one after another** | {total:.0f} s | {budgets} s | | | | | |")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Repository:
    """A public GitHub repository holding this book's committed notebooks."""

    owner: str
    name: str
    branch: str = "main"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    def launch_links(self, stem: str) -> dict[str, str]:
        """Colab and Binder links to the committed ``notebooks/<stem>.ipynb`` (book pages are generated copies)."""
        path = f"notebooks/{stem}.ipynb"
        return {"Open in Colab": f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/{path}",
                "Launch on Binder": f"https://mybinder.org/v2/gh/{self.owner}/{self.name}/{self.branch}?labpath={path}"}


def repository_from_env(environ=os.environ) -> Repository | None:
    """The repository named by ``$REPROBOOK_REPOSITORY_URL`` (and ``_BRANCH``), or None when unset."""
    url = environ.get(REPOSITORY_ENV, "").strip()
    if not url:
        return None
    branch = environ.get(BRANCH_ENV, "").strip() or "main"
    m = _GITHUB_URL.fullmatch(url)
    if not m:
        raise ValueError(f"{REPOSITORY_ENV}={url!r} is not allowed: give an https GitHub repository URL, "
                         f"https://github.com/OWNER/REPO, or leave it unset for a book without launch links")
    if not _BRANCH.fullmatch(branch) or ".." in branch:
        raise ValueError(f"{BRANCH_ENV}={branch!r} is not allowed: give a git branch name of letters, digits, '.', '_', '-', '/'")
    return Repository(m[1], m[2], branch)


def numbered_pages(toc: Path) -> set[str]:
    """Pages in the TOC's numbered parts: Sphinx gives them their chapter number."""
    parts = yaml.safe_load(Path(toc).read_text())["parts"]
    return {c["file"] for p in parts if p.get("numbered") for c in p["chapters"]}


def prepare_page(path: Path, chapter: _chapters.Chapter, *, numbered: bool, repo: Repository | None) -> None:
    """Fit an executed chapter notebook for the book, idempotently: make its widgets static
    (:func:`static_widgets`), turn nbval comments into cell tags, drop the title's typed chapter
    number where the TOC numbers the page, append "The code that ran" (:func:`code_that_ran`), and put
    the launch links cell on top when ``repo`` is set."""
    import nbformat

    from reprobook.engine.execute import nbval_tags

    nb = nbformat.read(path, as_version=4)
    static_widgets(nb)
    nbval_tags(nb)  # test markers are tags, not code a reader sees
    nb.cells = [c for c in nb.cells if c.get("id") not in (LAUNCH_CELL_ID, CODE_CELL_ID)]
    title = next(c for c in nb.cells if c.cell_type == "markdown")
    typed = re.search(r"^# (\d+)\. ", title.source, flags=re.M)
    if numbered and typed:
        if int(typed[1]) != chapter.number:
            raise ValueError(f"{path}: title says chapter {typed[1]}, the registry says {chapter.number}")
        title.source = title.source[:typed.start()] + "# " + title.source[typed.end():]
    if chapter.key_code:
        code = nbformat.v4.new_markdown_cell(code_that_ran(chapter))
        code.id = CODE_CELL_ID
        nb.cells.append(code)
    if repo is not None:
        links = " · ".join(f"[{label}]({href})" for label, href in repo.launch_links(chapter.stem).items())
        cell = nbformat.v4.new_markdown_cell(
            f"**Run this chapter live:** {links} (its notebook in [the repository]({repo.url}), branch `{repo.branch}`)")
        cell.id = LAUNCH_CELL_ID
        nb.cells.insert(0, cell)
    write_if_changed(path, nbformat.writes(nb) + "\n")


def book_config(root: Path, repo: Repository | None) -> Path:
    """``_config.yml`` as is, or a generated copy that adds the repository button when ``repo`` is set."""
    base = root / "_config.yml"
    if repo is None:
        return base
    cfg = yaml.safe_load(base.read_text())
    cfg["repository"] = {"url": repo.url, "branch": repo.branch}
    cfg.setdefault("html", {})["use_repository_button"] = True
    out = root / "book" / "_generated" / "_config.yml"
    write_if_changed(out, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return out


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
    repo = repository_from_env()  # a bad URL stops here, before anything is written
    generated = root / "book" / "_generated"
    write_if_changed(generated / "scoreboard.md", scoreboard_markdown(runs_root))
    write_if_changed(generated / "timings.md", timings_markdown(runs_root))
    numbered = numbered_pages(root / "book" / "_toc.yml")
    for ch in _chapters.available().values():
        page = f"book/runs/{ch.name}/{ch.stem}"
        prepare_page(root / f"{page}.ipynb", ch, numbered=page in numbered, repo=repo)
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    cmd = [exe, "build", str(root), "--toc", str(root / "book" / "_toc.yml"), "--config", str(book_config(root, repo)),
           "--path-output", str(root), "--builder", builder, "-W", "-n", "--keep-going"]
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
