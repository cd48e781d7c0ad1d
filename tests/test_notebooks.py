"""Every chapter notebook: one literal parameters cell with the contract's parameters,
kernelspec python3, no committed outputs, listed in the book's table of contents."""

import json

import pytest
import yaml

from reprobook import chapters
from reprobook.engine.execute import notebook_parameters

ROOT = chapters.repo_root()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REQUIRED = {"preset": "book", "seed": 0, "device": "auto", "data_root": None, "smoke": False}


def test_every_notebook_is_a_registered_chapter():
    assert NOTEBOOKS, "no notebooks found"
    registered = {c.notebook for c in chapters.CHAPTERS.values()}
    assert {p.name for p in NOTEBOOKS} <= registered


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, "outputs committed"
    params = notebook_parameters(path)
    for name, default in REQUIRED.items():
        assert params.get(name, "missing") == default, f"parameter {name} must default to {default!r}"


def test_non_literal_parameters_are_refused(tmp_path):
    import nbformat

    from reprobook.engine.execute import ParameterError

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import os\nseed = 0")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(ParameterError, match="only assign literal values"):
        notebook_parameters(tmp_path / "x.ipynb")
    cell.source = "seed = len('ab')"
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(ParameterError, match="not a literal"):
        notebook_parameters(tmp_path / "x.ipynb")


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for v in node.values():
            yield from _toc_files(v)
    elif isinstance(node, list):
        for v in node:
            yield from _toc_files(v)


def test_toc_lists_every_chapter():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = set(_toc_files(toc))
    for ch in chapters.available().values():
        assert f"book/runs/{ch.name}/{ch.stem}" in files


def test_kernels_talk_over_unix_sockets_and_poll_in_slices(tmp_path):
    """Chapter kernels use IPC, and their client never waits on one poll longer than a slice."""
    import asyncio
    from queue import Empty

    from reprobook.engine.kernel import POLL_SLICE_S, SlicedPollKernelClient, kernel_manager_class

    km = kernel_manager_class(tmp_path / "k")(kernel_name="python3")
    assert km.transport == "ipc" and km.ip == str(tmp_path / "k")
    assert km.client_factory is SlicedPollKernelClient

    polls = []

    class Channel(SlicedPollKernelClient.shell_channel_class.default_value):
        def __init__(self):
            pass

    async def fake_get(self, timeout=None):  # the parent's get_msg: a poll that sees nothing
        polls.append(timeout)
        await asyncio.sleep(timeout)
        raise Empty

    base = Channel.__mro__[2]
    original, base.get_msg = base.get_msg, fake_get
    try:
        try:
            asyncio.run(Channel().get_msg(timeout=1.2))
        except Empty:
            pass
        else:
            raise AssertionError("expected Empty after the deadline")
    finally:
        base.get_msg = original
    assert len(polls) >= 3 and max(polls) <= POLL_SLICE_S and abs(sum(polls) - 1.2) < 0.1


def test_nbval_comments_become_cell_tags():
    import nbformat

    from reprobook.engine.execute import nbval_tags

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nx = 1"),
                nbformat.v4.new_code_cell("  # NBVAL_SKIP\ny = 2"),
                nbformat.v4.new_code_cell("z = 3  # NBVAL_IGNORE_OUTPUT"),  # not a leading marker
                nbformat.v4.new_code_cell("# NBVAL_SOMETHING_ELSE\nw = 4"),
                nbformat.v4.new_markdown_cell("# NBVAL_SKIP")]
    nb.cells[0].metadata["tags"] = ["keep"]
    assert nbval_tags(nb) == 2
    assert nb.cells[0].source == "x = 1" and nb.cells[0].metadata["tags"] == ["keep", "nbval-ignore-output"]
    assert nb.cells[1].source == "y = 2" and nb.cells[1].metadata["tags"] == ["nbval-skip"]
    assert [c.source for c in nb.cells[2:]] == ["z = 3  # NBVAL_IGNORE_OUTPUT", "# NBVAL_SOMETHING_ELSE\nw = 4",
                                                "# NBVAL_SKIP"]
    assert nbval_tags(nb) == 0


@pytest.mark.parametrize("name", ["intro", "tac"])
def test_smoke_notebooks_for_nbval_carry_tags_not_comments(name, tmp_path):
    from reprobook.engine.execute import prepare_notebook

    src = json.loads(chapters.notebook_path(chapters.get(name)).read_text())
    marked = sum(c["cell_type"] == "code" and ("".join(c["source"]).startswith("# NBVAL_")
                                             or "nbval-ignore-output" in c["metadata"].get("tags", []))
                 for c in src["cells"])
    out = json.loads(prepare_notebook(name, {"smoke": True}, tmp_path / "nb.ipynb").read_text())
    assert not any("".join(c["source"]).lstrip().startswith("# NBVAL_") for c in out["cells"])
    tagged = sum("nbval-ignore-output" in c["metadata"].get("tags", []) for c in out["cells"])
    assert marked and tagged == marked


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_parses_every_parameter_line(path, caplog):
    """papermill reads the parameters cell for its help and injection: one assignment per line, no warning."""
    from papermill.translators import PythonTranslator

    cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    with caplog.at_level("WARNING", logger="papermill"):
        names = [p.name for p in PythonTranslator.inspect({"source": "".join(cell["source"])})]
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert names == list(notebook_parameters(path))
