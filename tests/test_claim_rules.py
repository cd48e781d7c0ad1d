"""Every chapter's claim rules can fail (evidence standard §6).

Each chapter package's ``claims`` module lists its rules in ``RULES`` with three inputs: identical
arms (the verdict must not be "holds"), a clear effect in the claimed direction ("holds") and the
opposite effect ("does not hold"), in the claim's own units, so a threshold no run could cross fails.
"""

import importlib

import pytest

from reprobook.chapters import CHAPTERS
from reprobook.engine import stats

PACKAGES = sorted({c.package for c in CHAPTERS.values()})


@pytest.mark.parametrize("package", PACKAGES)
def test_every_claim_rule_can_fail(package):
    claims = importlib.import_module(f"{package}.claims")
    assert claims.RULES, f"{package}.claims.RULES is empty"
    assert stats.falsification_problems(claims.RULES) == []


def test_no_chapter_uses_the_old_two_standard_error_rule():
    from reprobook.engine import results

    assert not hasattr(results, "compare") and not hasattr(results, "at_least")
