"""symopt.solvers.status: one enumeration, one message table, every view derived from it."""

import numpy as np

from symopt.constrained import STATUS
from symopt.constrained import status as cstatus
from symopt.solvers import status


def test_module_constants_are_plain_ints_equal_to_the_members():
    for member in status.Status:
        alias = getattr(status, member.name)
        assert type(alias) is int and alias == member
    assert type(status.CONVERGED) is int and status.CONVERGED == status.SUCCESS_GTOL


def test_every_reported_code_has_a_message_ending_in_a_full_stop():
    for member in status.Status:
        if member is not status.Status.CONTINUE:
            assert status.message(member).endswith("."), member.name


def test_success_depends_on_the_code_alone():
    for family in status.FAMILIES:
        for code, (_, _, success) in status.table(family).items():
            assert success == status.is_success(code) == (code in (0, 1, 2, 20, 21))


def test_success_mask_agrees_with_is_success():
    codes = np.array([-1, 0, 1, 2, 3, 7, 10, 20, 21, 30, 40, 44, 99])
    assert status.success_mask(codes).tolist() == [status.is_success(c) for c in codes]


def test_constrained_view_names_zero_and_one_its_own_way():
    assert cstatus.name(0) == "CONVERGED" and cstatus.name(1) == "ACCEPTABLE"
    assert status.name(0) == "SUCCESS_GTOL"
    assert "KKT" in cstatus.message(status.MAX_ITER)
    assert "KKT" not in status.message(status.MAX_ITER)
    assert STATUS == cstatus.TABLE and set(STATUS) == {0, 1, 3, 4, 5, 7, 40, 41, 42, 43, 44}


def test_batch_wording_of_invalid_input():
    assert "NaN" in status.message(status.INVALID_INPUT, "batch")
    assert status.message(status.MAX_ITER, "batch") == status.message(status.MAX_ITER)


def test_chunked_codes_come_from_the_enumeration():
    assert status.Status(30).name == "DATA_ERROR" and not status.is_success(31)


def test_unknown_codes_are_reported_not_raised():
    for code in (99, -1, None, "x"):
        assert status.row(code) == ("UNKNOWN", f"Unknown solver status {code!r}.", False)
