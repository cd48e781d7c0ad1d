"""The bibliography's labels in author–year form, as the text cites: ``[Qian et al., 2022]``.

pybtex's styles label entries alphabetically (``[QWHW23a]``) while the book's citations use the
author–year referencing style; these plugins make the bibliography list match the citations.
Registered with pybtex by :mod:`reprobook.sphinx_ext` under :data:`STYLE`.
"""

from __future__ import annotations

import re
from collections import Counter
from string import ascii_lowercase

from pybtex.style.formatting.unsrt import Style as _Unsrt
from pybtex.style.labels import BaseLabelStyle

STYLE = "reprobook_author_year"


def _last_name(person) -> str:
    return re.sub(r"[{}\\]", "", " ".join(person.prelast_names + person.last_names)).strip()


def author_year(entry) -> str:
    """``Qian, 2022``, ``Qian and Wang, 2022`` or ``Qian et al., 2022`` (editors when no authors)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if not names:
        who = re.sub(r"[{}]", "", entry.fields.get("title", entry.key)).split(":")[0]
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Author–year labels; equal ones get ``a``, ``b``, ... in bibliography order."""

    def format_labels(self, sorted_entries):
        labels = [author_year(e) for e in sorted_entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + ascii_lowercase[(seen[label] - 1) % len(ascii_lowercase)]
            else:
                yield label


class AuthorYearStyle(_Unsrt):
    """pybtex's ``unsrt`` entries, sorted by author, year and title, labelled author–year."""

    default_label_style = STYLE
    default_sorting_style = "author_year_title"


def register() -> None:
    import pybtex.plugin

    pybtex.plugin.register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle, force=True)
