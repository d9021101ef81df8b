"""The Examples sections of every module's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cleanframe

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(cleanframe.__path__, prefix="cleanframe.")
    if not info.name.startswith("cleanframe._accessors")
)


def test_the_public_modules_are_collected():
    for name in (
        "cleanframe.label_issues",
        "cleanframe.multiannotator",
        "cleanframe.neighbors",
        "cleanframe.models",
        "cleanframe.regression",
        "cleanframe.checks",
        "cleanframe.scoring.classification.count",
        "cleanframe.scoring.classification.rank",
    ):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
