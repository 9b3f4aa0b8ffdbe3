"""Contact traits: bounded, counted, merged, visible to conditions, copied to triggers."""

from __future__ import annotations

from collections import Counter

import msgspec

from pulse.conditions import compile_condition, lint_condition
from pulse.contact import ContactState, decode_state, encode_state
from pulse.identity import merge_states
from pulse.rules import Scoring
from pulse.traits import MAX_CUSTOM_TRAITS, apply_traits, copy_traits, trait_view


def test_custom_traits_past_the_bounds_are_counted_not_kept() -> None:
    state, skipped = ContactState(), Counter[str]()
    traits = {f"t{i}": i for i in range(MAX_CUSTOM_TRAITS + 2)}
    traits.update({"k" * 41: 1, "bad key": 1, "long": "x" * 201, "obj": {"a": 1}})
    apply_traits(state, {"traits": traits}, 0, skipped)
    assert len(state.traits) == MAX_CUSTOM_TRAITS
    assert skipped == Counter(traits_over_cap=2, trait_bad_key=2, trait_bad_value=2)


def test_raw_email_and_phone_are_never_stored() -> None:
    state = ContactState()
    apply_traits(state, {"traits": {"email": "a@b.c", "phone": "+331"}}, 0, Counter())
    assert (state.has_email, state.has_phone, state.traits) == (True, True, {})
    assert b"a@b.c" not in encode_state(state)


def test_birthday_signed_up_at_and_consents_are_kept() -> None:
    state = ContactState()
    traits = {"birthday": "1990-05-17", "createdAt": "2026-01-05T10:00:00Z",
              "consents": {"sms": False}}  # fmt: skip
    apply_traits(state, {"traits": traits}, 5, Counter())
    assert (state.birthday, state.signed_up_at) == ("1990-05-17", 1767607200000)
    assert state.consent["sms"].is_granted is False
    assert trait_view(state)["consents"] == {"sms": False}


def test_merge_keeps_the_known_contacts_traits_and_fills_gaps() -> None:
    known = ContactState(last_ts=2, locale="fr-FR", traits={"plan": "pro"})
    anon = ContactState(last_ts=1, locale="en-GB", birthday="1990-05-17",
                        traits={"plan": "free", "vip": True})  # fmt: skip
    merge_states(known, anon, Scoring())
    assert (known.locale, known.birthday) == ("fr-FR", "1990-05-17")
    assert known.traits == {"plan": "pro", "vip": True}


def test_a_state_written_before_traits_still_decodes() -> None:
    class OldState(msgspec.Struct, array_like=True):
        """ContactState's fields as they were before traits (its encoded prefix)."""

    old_fields = ContactState.__struct_fields__[: ContactState.__struct_fields__.index("birthday")]
    blob = msgspec.msgpack.encode(
        [getattr(ContactState(purchases=3, locale="fr-FR"), f) for f in old_fields]
    )
    state = decode_state(blob)
    assert (state.purchases, state.locale, state.traits, state.birthday) == (3, "fr-FR", {}, "")


def test_conditions_read_contact_traits_and_lint_accepts_them() -> None:
    condition = compile_condition('contact.traits.plan == "pro"')
    assert lint_condition(condition, "page_view", frozenset()) == []
    view = trait_view(ContactState(traits={"plan": "pro"}))
    assert condition.evaluate({"contact": {"traits": view}}) is True
    assert condition.evaluate({"contact": {"traits": {}}}) is False
    assert lint_condition(compile_condition("contact.trait.plan"), "page_view", frozenset())


def test_copy_traits_leaves_out_the_ones_the_contact_lacks() -> None:
    state = ContactState(locale="fr-FR", traits={"first_name": "Ada"})
    assert copy_traits(state, ["first_name", "locale", "plan"]) == {
        "first_name": "Ada", "locale": "fr-FR",
    }  # fmt: skip
    assert copy_traits(state, []) == {}
