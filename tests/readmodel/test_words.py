"""The words both read models index: what a search for free text can match."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projectors.read_models.text import WORD, words


def test_words_are_lower_cased_and_split_at_everything_but_letters_and_digits() -> None:
    assert words("Ada.Lovelace@Example.com SW1A-1AA tea_pot") == [
        "ada",
        "lovelace",
        "example",
        "com",
        "sw1a",
        "1aa",
        "tea_pot",
    ]


def test_accents_are_folded_so_either_spelling_finds_the_other() -> None:
    assert words("Zoë Ångström") == words("Zoe Angstrom") == ["zoe", "angstrom"]


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_makes_the_words_the_unicode_rule_makes(text: str) -> None:
    assert words(text) == WORD.findall(text.lower())
