import json
import subprocess
import sys

import pytest

from reprobook import chapters
from reprobook.cli import main


def test_list_one_line_per_chapter_name_first(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(chapters.available())


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "error: unknown chapter 'nope'; available: intro"),
    (["run", "intro", "-p", "colour", "red"], "error: unknown parameter 'colour' for chapter 'intro'; allowed: preset, seed"),
    (["run", "intro", "-p", "preset", "huge"], "error: unknown preset 'huge' for chapter 'intro'; choose one of: book, long"),
    (["run", "intro", "-p", "seed", "abc"], "error: parameter 'seed' of chapter 'intro' must be int"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_run_writes_notebook_and_record_then_skips(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "reprobook.cli", "run", "intro", "-p", "smoke", "True", "-p", "seed", "2",
           "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    rec = json.loads((out / "results.json").read_text())
    assert rec["chapter"] == "intro" and rec["seed"] == 2 and rec["parameters"]["smoke"] is True
    assert {c["verdict"] for c in rec["claims"]} <= {"holds", "does not hold", "inconclusive", "not tested"}
    nb = json.loads((out / "00_intro.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert list((out / "checkpoints").glob("*.pt"))
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert second.returncode == 0 and "up to date" in second.stdout


def _cli(*argv, cwd=None):
    """Run the CLI in a fresh interpreter; returns (process, wall seconds, whether torch got imported)."""
    code = ("import sys, time\nt = time.perf_counter()\ntry:\n    from reprobook.cli import main\n"
            "    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('TORCH', 'torch' in sys.modules, 'matplotlib' in sys.modules, time.perf_counter() - t, "
            "file=sys.stderr)\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd)
    marker = proc.stderr.strip().splitlines()[-1].split()
    return proc, float(marker[3]), marker[1:3] != ["False", "False"]


@pytest.mark.parametrize("argv", [["list"], ["run", "nope"], ["run", "--help"]])
def test_list_and_bad_chapter_answer_fast_without_torch(argv):
    proc, wall, heavy = _cli(*argv)
    assert not heavy, f"{argv}: torch or matplotlib was imported"
    assert wall < 2.0, f"{argv}: took {wall:.1f} s"


def test_run_help_lists_every_chapter_and_points_to_list():
    proc, _, _ = _cli("run", "--help")
    assert proc.returncode == 0
    for ch in chapters.available().values():
        assert f"{ch.number}  {ch.name}" in proc.stdout
    assert "reprobook list" in proc.stdout


@pytest.mark.parametrize("given", ["switokd", "SwitOKD", "SWITOKD", "3", 3, " 3 "])
def test_chapter_by_number_or_any_case(given):
    assert chapters.get(given).name == "switokd"


@pytest.mark.parametrize("typo, suggestion", [("swtokd", "switokd"), ("adadq", "adadfq"), ("Strdifusion", "strdiffusion")])
def test_unknown_chapter_suggests_the_closest(typo, suggestion, capsys):
    assert main(["run", typo]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: unknown chapter {typo!r}; did you mean {suggestion!r}?") and err.count("\n") == 1


def test_far_name_gets_no_suggestion(capsys):
    assert main(["run", "zzzzzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err
