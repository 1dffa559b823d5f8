"""The README documents every setting the node reads (the table is checked, not trusted)."""

from __future__ import annotations

from pathlib import Path

from roost.node.config import OPTIONS, SECRET_ENV

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_flag_and_variable_is_in_the_configuration_table() -> None:
    missing = [o.flag for o in OPTIONS if f"`{o.flag}`" not in README]
    missing += [o.env for o in OPTIONS if o.env and f"`{o.env}`" not in README]
    missing += [e for e in SECRET_ENV if f"`{e}`" not in README]
    assert not missing, f"README configuration table lacks {missing}"


def test_quick_start_is_two_make_commands() -> None:
    assert "make demo" in README and "make test" in README
