"""docs/policies.md stays true: its rule and config tables are the ones the metadata generates."""

from policies.docs import DOC, render
from policies.pack import RULES


def test_policy_doc_tables_are_current() -> None:
    text = DOC.read_text()
    assert render(text) == text, "run: hdh docs"


def test_every_rule_has_an_anchor() -> None:
    text = DOC.read_text()
    for rule_id in RULES:
        assert f'<a id="{rule_id}"></a>`{rule_id}`' in text
