"""The label-issue keyword defaults are written in several signatures (the public function, the
multi-label and token calls it routes to, the streamed/Dask driver, the audit's label check, the
kernels); they must all be ``cleanframe._issues.DEFAULTS``, which has cleanlab's values."""

from __future__ import annotations

import inspect

import pytest

import cleanframe
from cleanframe import _batched, label_issues, multilabel, tokens
from cleanframe._issues import DEFAULTS
from cleanframe.checks.builtin import LABEL_KWARGS
from cleanframe.cli import build_parser
from cleanframe.scoring.classification import filter as class_filter
from cleanframe.scoring.classification import passes
from cleanframe.scoring.multilabel import filter as multilabel_filter

#: Every signature that spells the label-issue defaults out, and the keys it takes.
SIGNATURES = {
    "label_issues.find_label_issues": (label_issues.find_label_issues, DEFAULTS),
    "label_issues.label_issue_arrays": (label_issues.label_issue_arrays, DEFAULTS),
    "_batched.find_label_issues": (_batched.find_label_issues, DEFAULTS),
    "multilabel.find_label_issues": (multilabel.find_label_issues, DEFAULTS),
    "tokens.find_label_issues": (tokens.find_label_issues, DEFAULTS),
    "passes.LabelIssueJob": (passes.LabelIssueJob, DEFAULTS),
    # the kernels take no rank_by (scores are another function there)
    "scoring.classification.filter.find_label_issues": (
        class_filter.find_label_issues,
        {k: v for k, v in DEFAULTS.items() if k != "rank_by"},
    ),
    "scoring.multilabel.filter.find_label_issues": (
        multilabel_filter.find_label_issues,
        {k: v for k, v in DEFAULTS.items() if not k.startswith("rank_by")},
    ),
    "scoring.multilabel.filter.find_label_issues_per_class": (
        multilabel_filter.find_label_issues_per_class,
        {k: v for k, v in DEFAULTS.items() if not k.startswith("rank_by")},
    ),
}


#: Internal signatures that may take the keywords without defaults (their callers pass them all).
WITHOUT_DEFAULTS = {"_batched.find_label_issues"}


def _defaults(func) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_defaults_are_the_seven_label_issue_keywords_read_only():
    # their values: test_cleanlab_has_the_same_defaults
    assert list(DEFAULTS) == [
        "filter_by",
        "frac_noise",
        "num_to_remove_per_class",
        "min_examples_per_class",
        "confident_joint",
        "rank_by",
        "rank_by_kwargs",
    ]
    with pytest.raises(TypeError):
        DEFAULTS["frac_noise"] = 0.5  # type: ignore[index]


@pytest.mark.parametrize("where", sorted(SIGNATURES))
def test_every_signature_has_the_defaults(where):
    func, expected = SIGNATURES[where]
    params = inspect.signature(func).parameters
    for name, value in expected.items():
        assert name in params, f"{where} lacks {name}="
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, f"{where}: {name}="
        default = params[name].default
        if default is inspect.Parameter.empty and where in WITHOUT_DEFAULTS:
            continue  # every caller passes it: nothing to drift
        assert default == value and type(default) is type(value), (
            f"{where}: {name}={default!r}, the label-issue default is {value!r}"
        )


def test_routed_signatures_agree_on_every_shared_keyword():
    # find_label_issues passes its own values on to the call it routes to (multi-label, tokens,
    # batched): a keyword they share with another default would act differently when called
    # directly than when routed
    public = _defaults(label_issues.find_label_issues)
    for func in (
        _batched.find_label_issues,
        multilabel.find_label_issues,
        tokens.find_label_issues,
    ):
        other = _defaults(func)
        shared = public.keys() & other.keys()
        assert shared >= DEFAULTS.keys() or func is _batched.find_label_issues
        assert {k: public[k] for k in shared} == {k: other[k] for k in shared}, func.__module__


def test_public_names_and_the_accessor_show_the_same_signature():
    import pandas as pd

    assert cleanframe.find_label_issues is label_issues.find_label_issues
    method = pd.DataFrame({"y": [0]}).cl.find_label_issues
    assert {k: v for k, v in _defaults(method).items() if k in DEFAULTS} == dict(DEFAULTS)


def test_the_audit_label_check_takes_the_defaults():
    assert LABEL_KWARGS == dict(DEFAULTS)


def test_the_command_line_default_rule():
    args = build_parser().parse_args(
        ["find-label-issues", "data.csv", "--label", "y", "--pred-probs", "p_*"]
    )
    assert args.filter_by == DEFAULTS["filter_by"]


@pytest.mark.parametrize("name", ["filter_by", "rank_by", "min_examples_per_class"])
def test_the_documented_defaults(name):
    value = DEFAULTS[name]
    text = " ".join(label_issues.find_label_issues.__doc__.split())
    said = f'``"{value}"`` (default)' if isinstance(value, str) else f"(default {value})"
    assert said in text


def test_cleanlab_has_the_same_defaults():
    from cleanlab import filter as ref_filter
    from cleanlab.multilabel_classification import filter as ref_multilabel
    from cleanlab.token_classification import filter as ref_tokens

    theirs = _defaults(ref_filter.find_label_issues)
    assert {k: theirs[k] for k in DEFAULTS.keys() - {"rank_by"}} == {
        k: v for k, v in DEFAULTS.items() if k != "rank_by"
    }
    # the multi-label call's rank_by_kwargs default is {} there (the same options: none)
    theirs = _defaults(ref_multilabel.find_label_issues)
    assert theirs["rank_by_kwargs"] == {}
    assert {k: theirs[k] for k in DEFAULTS.keys() - {"rank_by", "rank_by_kwargs"}} == {
        k: v for k, v in DEFAULTS.items() if not k.startswith("rank_by")
    }
    # scores rank by self-confidence, as the token call's ranking there
    assert (
        _defaults(ref_tokens.find_label_issues)["return_indices_ranked_by"] == (DEFAULTS["rank_by"])
    )
