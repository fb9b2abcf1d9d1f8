"""The order id rule, pinned (pure): the refusal says what an id may hold."""

from __future__ import annotations

import pytest

from workflows.domain.model import check_order_id


def test_a_bad_order_id_is_refused_with_the_rule() -> None:
    with pytest.raises(ValueError) as refused:
        check_order_id("-PO 1")
    assert str(refused.value) == (
        "order id '-PO 1' is invalid: use 1 to 64 letters, digits, '.', '_' or '-',"
        " starting with a letter or digit"
    )
    assert check_order_id("PO-1.a_b") == "PO-1.a_b"
