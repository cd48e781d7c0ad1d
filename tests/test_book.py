import json
import shutil

import nbformat
import pytest
import yaml

from reprobook.book import (BRANCH_ENV, REPOSITORY_ENV, Repository, book_config, numbered_pages, prepare_page,
                            repository_from_env, scoreboard_markdown, timings_markdown)
from reprobook.chapters import CHAPTERS, repo_root
from reprobook.engine import stats
from reprobook.engine.results import Record


def test_scoreboard_collects_records(tmp_path):
    r = Record("intro", parameters={}, seed=0)
    r.baseline("chance", 0.95)
    r.claim("c", "MLP beats linear", "—", stats.paired([0.9, 0.91, 0.92], [0.5, 0.52, 0.51]))
    r.claim("d", "MLP beats chance", "—", stats.paired([0.9, 0.91, 0.92], [0.5, 0.52, 0.51]), kind="check",
            baselines=("chance",))
    r.claim("e", "an extension", "—", stats.paired([0.9, 0.5, 0.92], [0.5, 0.52, 0.51]), kind="extension")
    r.claim("f", "a claim whose precondition failed", "—", stats.untested("the gate does not hold"))
    r.save(tmp_path / "intro")
    md = scoreboard_markdown(tmp_path)
    assert "| 0. [The toolkit" in md and "| 1 / 0 / 0 / 1 | 0 / 0 / 1 / 0 | 0 / 0 / 0 / 0 (+1 below a baseline) | 3 |" in md
    assert "| **all chapters** | 1 / 0 / 0 / 1 |" in md
    assert '<strong class="verdict verdict-holds">holds</strong>' in md and "MLP beats linear" in md and "not a reproduction" in md
    summary, details = md.split("<!-- details -->")
    assert "MLP beats linear" not in summary


def test_scoreboard_marks_missing_runs(tmp_path):
    assert "not run" in scoreboard_markdown(tmp_path)


def test_timings_table_shows_measured_time_budget_threads_and_cpus(tmp_path):
    import torch

    from reprobook.engine.results import usable_cpus

    Record("intro", parameters={"preset": "book", "smoke": True}, seed=0).save(tmp_path / "intro")
    Record("tac", parameters={"preset": "book", "smoke": False}, seed=0).save(tmp_path / "tac")
    rows = {line.split(" | ")[0]: line for line in timings_markdown(tmp_path).splitlines()}
    intro, tac = rows["| 0. " + CHAPTERS["intro"].title], rows["| 1. " + CHAPTERS["tac"].title]
    assert f"| {CHAPTERS['intro'].smoke_budget_s} s | `book` (smoke) | {torch.get_num_threads()} | {usable_cpus()} |" in intro
    assert f"| {CHAPTERS['tac'].budget_s} s | `book` |" in tac
    assert "| not run |" in rows["| 2. " + CHAPTERS["m2net"].title]


def test_timings_table_reads_records_without_threads(tmp_path):
    rec = Record("intro", parameters={"preset": "book"}).to_dict()
    del rec["threads"], rec["cpus"]  # a record written before these fields existed
    (tmp_path / "intro").mkdir()
    (tmp_path / "intro" / "results.json").write_text(json.dumps(rec))
    assert "| `book` | — | — |" in timings_markdown(tmp_path)


@pytest.mark.parametrize("url", ["https://github.com/some-owner/some.repo", "https://github.com/some-owner/some.repo.git",
                                 "https://github.com/some-owner/some.repo/"])
def test_github_url_gives_colab_and_binder_links_to_the_committed_notebook(url):
    repo = repository_from_env({REPOSITORY_ENV: url, BRANCH_ENV: "dev/x"})
    assert repo.url == "https://github.com/some-owner/some.repo"
    assert repo.launch_links("01_tac") == {
        "Open in Colab": "https://colab.research.google.com/github/some-owner/some.repo/blob/dev/x/notebooks/01_tac.ipynb",
        "Launch on Binder": "https://mybinder.org/v2/gh/some-owner/some.repo/dev/x?labpath=notebooks/01_tac.ipynb"}
    assert repository_from_env({REPOSITORY_ENV: url}).branch == "main"


def test_no_repository_url_means_no_links():
    assert repository_from_env({}) is None and repository_from_env({REPOSITORY_ENV: " "}) is None


@pytest.mark.parametrize("env", [{REPOSITORY_ENV: "http://github.com/a/b"}, {REPOSITORY_ENV: "https://gitlab.com/a/b"},
                                 {REPOSITORY_ENV: "https://github.com/a"}, {REPOSITORY_ENV: "https://github.com/a/b/tree/x"},
                                 {REPOSITORY_ENV: "github.com/a/b"}, {REPOSITORY_ENV: "https://github.com/a/b", BRANCH_ENV: "a b"}])
def test_bad_repository_setting_is_one_clear_line(env):
    with pytest.raises(ValueError) as e:
        repository_from_env(env)
    msg = str(e.value)
    assert "\n" not in msg and "not allowed" in msg
    assert ("https://github.com/OWNER/REPO" in msg) if BRANCH_ENV not in env else ("letters, digits" in msg)


def _title_notebook(path, title):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"(chapter-tac)=\n# {title}\n\nText."),
                                         nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, path)
    return path


def test_prepare_page_numbers_from_the_toc_and_launch_cell_is_idempotent(tmp_path):
    tac = CHAPTERS["tac"]
    path = _title_notebook(tmp_path / "01_tac.ipynb", "1. TAC: targeted")
    repo = Repository("some-owner", "some-repo")
    prepare_page(path, tac, numbered=True, repo=repo)
    once = path.read_text()
    prepare_page(path, tac, numbered=True, repo=repo)
    assert path.read_text() == once
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.count("colab.research.google.com/github/some-owner/some-repo/blob/main/notebooks/01_tac.ipynb") == 1
    assert "\n# TAC: targeted\n" in nb.cells[1].source and len(nb.cells) == 4  # links, title, body, the code that ran
    prepare_page(path, tac, numbered=True, repo=None)
    assert "colab" not in path.read_text() and len(nbformat.read(path, as_version=4).cells) == 3
    unnumbered = _title_notebook(tmp_path / "u.ipynb", "1. TAC: targeted")
    prepare_page(unnumbered, tac, numbered=False, repo=None)
    assert "# 1. TAC" in unnumbered.read_text()
    with pytest.raises(ValueError, match="title says chapter 2"):
        prepare_page(_title_notebook(tmp_path / "w.ipynb", "2. TAC"), tac, numbered=True, repo=None)


def test_numbered_toc_part_gives_each_chapter_its_registry_number():
    root = repo_root()
    numbered = numbered_pages(root / "book" / "_toc.yml")
    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text())
    order = [c["file"] for p in toc["parts"] for c in p["chapters"] if c["file"] in numbered]
    by_page = {f"book/runs/{c.name}/{c.stem}": c for c in CHAPTERS.values()}
    assert [by_page[f].number for f in order] == list(range(1, len(order) + 1))
    assert {c.number for c in CHAPTERS.values() if f"book/runs/{c.name}/{c.stem}" not in numbered} == {0}


def test_repository_button_only_with_a_repository(tmp_path):
    shutil.copy2(repo_root() / "_config.yml", tmp_path / "_config.yml")
    assert book_config(tmp_path, None) == tmp_path / "_config.yml"
    cfg = yaml.safe_load(book_config(tmp_path, Repository("o", "r", "dev")).read_text())
    assert cfg["repository"] == {"url": "https://github.com/o/r", "branch": "dev"}
    assert cfg["html"]["use_repository_button"] and cfg["html"]["use_download_button"]


def test_verdicts_are_text_badges_without_emoji(tmp_path):
    from reprobook.book import VERDICT_MARK
    from reprobook.engine.results import claims_markdown

    claims = [{"claim": f"c{i}", "kind": "paper", "paper": "—", "measured": "m", "rule": "r", "verdict": v}
              for i, v in enumerate(["holds", "does not hold", "inconclusive", "not tested"])]
    for md in (claims_markdown(claims), claims_markdown(claims, VERDICT_MARK)):
        for v in ("holds", "does not hold", "inconclusive", "not tested"):
            assert f'class="verdict verdict-{v.replace(" ", "-")}">{v}</strong>' in md
        assert all(ord(ch) < 0x2190 for ch in md), "a verdict drawn with a symbol or emoji a font may lack"
    css = (repo_root() / "src" / "reprobook" / "static" / "reprobook.css").read_text()
    assert all(f".verdict-{v}" in css for v in ("holds", "does-not-hold", "inconclusive", "not-tested"))


def _widget_notebook():
    """An executed notebook as nbclient stores it: a tqdm bar (HBox of label, progress, label) and a live control."""
    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
                "state": state}
    state = {"bar": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
             "l": model("HTMLModel", value="train\u2007seed\u20070:\u2007100%"),
             "p": model("FloatProgressModel", value=40.0, max=40.0, min=0),
             "r": model("HTMLModel", value="\u200740/40\u2007[00:01&lt;00:00,\u200730.0it/s]"),
             "half": model("HBoxModel", children=["IPY_MODEL_l2", "IPY_MODEL_p2"]),
             "l2": model("HTMLModel", value="eval:\u200750%"), "p2": model("FloatProgressModel", value=5, max=10),
             "box": model("VBoxModel", children=["IPY_MODEL_s"]), "s": model("FloatSliderModel", value=0.5)}
    view = lambda mid: {"application/vnd.jupyter.widget-view+json": {"model_id": mid, "version_major": 2,
                                                                     "version_minor": 0}, "text/plain": "HBox(...)"}
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2,
                                                                           "version_minor": 0}}
    run = nbformat.v4.new_code_cell("fit()")
    run.outputs = [nbformat.v4.new_output("display_data", data=view("bar")),
                   nbformat.v4.new_output("display_data", data=view("half")),
                   nbformat.v4.new_output("execute_result", data={"text/plain": "0.97"}, execution_count=1)]
    explore = nbformat.v4.new_code_cell("live(...)")
    explore.outputs = [nbformat.v4.new_output("execute_result", data=view("box"), execution_count=2)]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), run, explore]
    return nb


def test_static_widgets_turn_progress_bars_into_text_and_controls_into_a_note():
    from reprobook.book import LIVE_CONTROLS_NOTE, static_widgets

    nb = _widget_notebook()
    assert static_widgets(nb) == 3
    assert "widgets" not in nb.metadata
    run, explore = nb.cells[1].outputs, nb.cells[2].outputs
    assert run[0]["output_type"] == "stream" and run[0]["name"] == "stdout"
    assert run[0]["text"] == ("train seed 0: 100%|██████████| 40/40 [00:01<00:00, 30.0it/s]\n"
                              "eval: 50%|█████     |\n")
    assert run[1]["data"] == {"text/plain": "0.97"}
    assert [o["data"] for o in explore] == [{"text/markdown": LIVE_CONTROLS_NOTE}]
    assert "widget-view" not in nbformat.writes(nb)
    assert static_widgets(nb) == 0  # idempotent


def test_prepare_page_leaves_no_widget_state(tmp_path):
    path = tmp_path / "00_intro.ipynb"
    nbformat.write(_widget_notebook(), path)
    prepare_page(path, CHAPTERS["intro"], numbered=False, repo=None)
    text = path.read_text()
    assert "widget-state+json" not in text and "widget-view+json" not in text


def test_page_assets_are_unique_in_order():
    from sphinx.builders.html._assets import _JavaScript

    from reprobook.sphinx_ext import unique_assets

    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("a.js"), _JavaScript(None, body=body), _JavaScript("b.js"), _JavaScript("", body=body),
               _JavaScript("a.js"), _JavaScript("a.js", defer="defer")]
    kept = unique_assets(scripts)
    assert [(s.filename, s.attributes) for s in kept] == [("a.js", {}), (None, {"body": body}), ("b.js", {}),
                                                          ("a.js", {"defer": "defer"})]


def test_timings_say_when_and_why_a_run_exceeded_its_budget(tmp_path):
    from reprobook.book import budget_note

    budget = CHAPTERS["tac"].budget_s
    for name, load in (("tac", 2 * 8.0), ("m2net", 0.1)):
        rec = Record(name, parameters={"preset": "book"}).to_dict()
        rec.update(wall_time_s=budget * 3.0, load=load, cpus=2, threads=1)
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(rec))
    rec = Record("switokd", parameters={"preset": "book"}).to_dict()
    rec.update(wall_time_s=1.0)
    (tmp_path / "switokd").mkdir()
    (tmp_path / "switokd" / "results.json").write_text(json.dumps(rec))
    rows = {line.split(" | ")[0]: line for line in timings_markdown(tmp_path).splitlines()}
    assert "**over budget** (×3.0): the machine's load was 16 on 2 CPUs" in rows["| 1. " + CHAPTERS["tac"].title]
    assert "on an unloaded machine" in rows["| 2. " + CHAPTERS["m2net"].title]
    assert rows["| 3. " + CHAPTERS["switokd"].title].endswith("|  |")
    assert f"| {budget * 6 + 1:.0f} s |" in rows["| **all chapters, one after another**"]
    assert budget_note(1.0, 2, {}) == ""
    assert "threads" in budget_note(10.0, 2, {"threads": 4, "cpus": 2, "load": 1.0})


def test_bibliography_labels_are_author_year_like_the_citations():
    from pybtex.database import parse_string

    from reprobook.bibstyle import AuthorYearLabels

    bib = parse_string(r"""
    @article{a, author = {Biao Qian and Yang Wang and Richang Hong}, title = {One}, year = {2023}}
    @article{b, author = {Biao Qian and Yang Wang and Meng Wang}, title = {Two}, year = {2023}}
    @article{c, author = {Geoffrey Hinton and Oriol Vinyals}, title = {Three}, year = {2015}}
    @article{d, author = {Mohammad {Rastegari}}, title = {Four}, year = {2016}}
    """, "bibtex")
    labels = list(AuthorYearLabels().format_labels(bib.entries.values()))
    assert labels == ["Qian et al., 2023a", "Qian et al., 2023b", "Hinton and Vinyals, 2015", "Rastegari, 2016"]
    assert "reprobook_author_year" in (repo_root() / "_config.yml").read_text()


def test_code_that_ran_reads_the_key_code_from_src():
    import inspect

    from reprobook.book import code_that_ran
    from reprobook.intro.experiment import train_one

    md = code_that_ran(CHAPTERS["intro"])
    lines, first = inspect.getsourcelines(train_one)
    assert md.startswith("## The code that ran")
    assert f"`src/reprobook/intro/experiment.py`, lines {first}–{first + len(lines) - 1}" in md
    assert "".join(lines).rstrip() in md  # the source as it is now, docstring included
    for ch in CHAPTERS.values():  # every chapter names code that exists
        assert ch.key_code, ch.name
        assert code_that_ran(ch).count("```python") == len(ch.key_code)


def test_prepare_page_appends_the_code_once(tmp_path):
    path = tmp_path / "00_intro.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 0. T")]
    nbformat.write(nb, path)
    for _ in range(2):  # idempotent
        prepare_page(path, CHAPTERS["intro"], numbered=False, repo=None)
    cells = nbformat.read(path, as_version=4).cells
    assert [c.source.startswith("## The code that ran") for c in cells] == [False, True]
