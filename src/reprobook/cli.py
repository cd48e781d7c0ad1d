"""``reprobook``: list, run and render the book's chapters.

    reprobook list                                   chapters, one line each, name first
    reprobook run CHAPTER [-p NAME VALUE]... [--out DIR] [--force]
    reprobook run-all [--out DIR] [--force]          every chapter at its default parameters
    reprobook book [--no-execute] [--force]          execute into book/runs/, then render HTML
    reprobook smoke DIR                              write smoke-mode notebooks for nbval
    reprobook train CHAPTER [--preset paper] [--data-root DIR] [--out DIR] [--set KEY=VALUE]... [--resume]
                                                     the chapter's experiment outside its notebook;
                                                     also under torchrun --nproc_per_node N -m reprobook
    reprobook evidence CHAPTER [--seeds N] [--preset book] [--set KEY=VALUE]... [--work DIR] [--resume]
                               [--extend] [--partial]
                                                     the chapter's evidence grid (arms × seeds), resumable;
                                                     writes the shipped record the chapter replays (--partial:
                                                     from the cells finished so far; --extend: add to it)

A CHAPTER is its name in any case (``switokd``, ``SwitOKD``) or its number (``3``). Bad input
(unknown chapter, parameter or preset) ends with one ``error:`` line and exit code 2; an unknown
chapter is refused before torch is imported, with the closest name suggested.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _run_all(out_root: Path, *, force: bool) -> None:
    from reprobook import chapters
    from reprobook.engine.execute import run_chapter

    for ch in chapters.available().values():
        o = run_chapter(ch, {}, out_dir=out_root / ch.name, force=force)
        state = f"executed in {o.wall_time_s:.1f} s" if o.executed else "up to date"
        print(f"{ch.name}: {state} → {o.notebook}", flush=True)


def cmd_list(args) -> None:
    from reprobook import chapters

    for ch in chapters.available().values():
        print(f"{ch.name:<14} {ch.number}  {ch.title}  [presets: {', '.join(ch.presets())}; "
              f"default run ≤ {ch.budget_s} s]")


def cmd_run(args) -> None:
    from reprobook import chapters

    ch = chapters.get(args.chapter)  # before the engine (and torch) is imported
    from reprobook.engine.execute import parse_value, run_chapter

    params = {name: parse_value(value) for name, value in args.p}
    out = Path(args.out) if args.out else Path("runs") / ch.name
    o = run_chapter(ch, params, out_dir=out, force=args.force)
    print(f"{ch.name}: {'executed in %.1f s' % o.wall_time_s if o.executed else 'up to date'}\n"
          f"  notebook: {o.notebook}\n  results:  {o.run_dir / 'results.json'}")


def cmd_run_all(args) -> None:
    _run_all(Path(args.out) if args.out else Path("runs"), force=args.force)


def cmd_book(args) -> None:
    from reprobook.book import book_runs_dir, render, repository_from_env

    repository_from_env()  # a bad repository URL fails before minutes of execution
    t0 = time.perf_counter()
    if not args.no_execute:
        _run_all(book_runs_dir(), force=args.force)
    out = render()
    print(f"book built in {time.perf_counter() - t0:.1f} s → {out / 'index.html'}")


def cmd_smoke(args) -> None:
    from reprobook import chapters
    from reprobook.engine.execute import prepare_notebook

    for ch in chapters.available().values():
        print(prepare_notebook(ch, {"smoke": True}, Path(args.dir) / ch.notebook))


def cmd_train(args) -> None:
    from reprobook.engine import distributed
    from reprobook.engine.training import parse_sets, run_training

    try:
        path = run_training(args.chapter, preset=args.preset, data_root=args.data_root, out=args.out,
                            sets=parse_sets(args.set), resume=args.resume, smoke=args.smoke,
                            progress=not args.quiet)
        if distributed.is_main():
            print(f"{args.chapter}: trained → {path}")
    finally:
        distributed.shutdown()


def cmd_evidence(args) -> None:
    from reprobook.engine.evidence import main_argv, run_grid
    from reprobook.engine.training import parse_sets

    path = run_grid(args.chapter, seeds=args.seeds, preset=args.preset, sets=parse_sets(args.set), work=args.work,
                    out=args.out, resume=args.resume, smoke=args.smoke, progress=not args.quiet,
                    argv=main_argv() if args.out is None else None, extend=args.extend, partial=args.partial)
    print(f"{args.chapter}: evidence record → {path}")


def _chapters_epilog() -> str:
    """The chapters, for ``--help``: number and name, then where ``list`` says more."""
    from reprobook import chapters

    try:
        names = [f"  {c.number}  {c.name:<14} {c.title}" for c in chapters.available().values()]
    except chapters.SourceCheckoutError:
        return ""
    return "chapters (give the name in any case, or the number):\n" + "\n".join(names) + \
        "\n\n`reprobook list` also shows each chapter's presets and time budget."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reprobook", description="Run and render the reprobook chapters.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{list,run,run-all,book,smoke,train,evidence}")
    sub.add_parser("list", help="list the chapters").set_defaults(fn=cmd_list)
    r = sub.add_parser("run", help="execute one chapter notebook with papermill", epilog=_chapters_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("chapter", help="chapter name (any case) or number")
    r.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="set a parameter")
    r.add_argument("--out", help="run directory (default: runs/CHAPTER)")
    r.add_argument("--force", action="store_true", help="execute even if an identical run exists")
    r.set_defaults(fn=cmd_run)
    a = sub.add_parser("run-all", help="execute every chapter at its default parameters")
    a.add_argument("--out", help="root of the run directories (default: runs)")
    a.add_argument("--force", action="store_true")
    a.set_defaults(fn=cmd_run_all)
    b = sub.add_parser("book", help="execute every chapter into book/runs and render the HTML book")
    b.add_argument("--no-execute", action="store_true", help="render the existing runs only")
    b.add_argument("--force", action="store_true")
    b.set_defaults(fn=cmd_book)
    s = sub.add_parser("smoke", help="write every notebook with smoke=True injected (for nbval)")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_smoke)
    t = sub.add_parser("train", help="train a chapter's experiment outside its notebook (also under torchrun)")
    t.add_argument("chapter")
    t.add_argument("--preset", default="paper", help="config preset (default: paper)")
    t.add_argument("--data-root", help="folder holding the real datasets")
    t.add_argument("--out", help="run directory (default: runs/train/CHAPTER-PRESET)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    t.add_argument("--smoke", action="store_true", help="shrink the run to seconds (tests)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("evidence", help="run a chapter's evidence grid (arms × seeds) and write its shipped record")
    e.add_argument("chapter")
    e.add_argument("--seeds", type=int, help="paired seeds per arm (default: the grid's)")
    e.add_argument("--preset", default="book", help="config preset (default: book)")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    e.add_argument("--work", help="work directory for checkpoints and finished cells "
                                  "(default: $REPROBOOK_EVIDENCE_DIR/CHAPTER or ~/reprobook-evidence/CHAPTER)")
    e.add_argument("--out", help="where to write the record (default: the chapter's shipped record)")
    e.add_argument("--resume", action="store_true", help="continue the grid in --work")
    e.add_argument("--extend", action="store_true", help="start from the cells of the existing record (--out, "
                   "default: the shipped one) and run only the cells it lacks")
    e.add_argument("--partial", action="store_true", help="run nothing: write the record from the cells finished "
                   "so far, listing the missing ones")
    e.add_argument("--smoke", action="store_true", help="shrink every cell to seconds (tests)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(fn=cmd_evidence)
    return p


def main(argv: list[str] | None = None) -> int:
    from reprobook.engine.errors import one_line

    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The chapter kernel is already stopped; a notebook client's cell task that saw it die may
        # still be garbage-collected at exit, and asyncio would print its traceback then.
        import logging

        logging.getLogger("asyncio").disabled = True
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
