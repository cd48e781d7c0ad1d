"""The one line a user sees for an error, whichever process raised it.

A ``DataLoader`` worker's exception reaches the main process re-raised with the message
``Caught DataRootError in DataLoader worker process 0.`` followed by the worker's traceback; the
words that say what is wrong (which file, what was expected) are on the traceback's last line.
:func:`worker_error_message` gets them back.
"""

from __future__ import annotations

import re

_WORKER = re.compile(r"Caught (\w+) in DataLoader worker process \d+\.")


def worker_error_message(text: str) -> str:
    """The original message of an exception re-raised from a ``DataLoader`` worker (else ``text``)."""
    m = _WORKER.search(text)
    if not m:
        return text
    name, lines = m.group(1), text[m.start():].splitlines()
    for i in range(len(lines) - 1, 0, -1):
        head, sep, rest = lines[i].partition(": ")
        if sep and (head == name or head.endswith("." + name)) and not lines[i].startswith(" "):
            return "\n".join([rest, *lines[i + 1:]]).strip()
    return text


def unwrap_worker_error(e: BaseException) -> BaseException:
    """The same kind of exception as ``e`` carrying the worker's original message (``e`` itself if none)."""
    text = str(e)
    msg = worker_error_message(text)
    if msg == text:
        return e
    try:
        return type(e)(msg)
    except Exception:
        return RuntimeError(msg)


def one_line(e: BaseException) -> str:
    """The first line of ``e``'s message (a worker's original one if it came from a worker), or its type."""
    text = worker_error_message(str(e)).strip()
    return text.splitlines()[0] if text else type(e).__name__
