"""compare(): every applicable method on one problem, with counts and timings."""

import pytest

import symopt as so

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


@pytest.mark.slow
def test_compare_runs_each_method_and_times_it():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["gd", "newton", "bfgs"], repeat=3)
    assert list(runs) == ["gd", "newton", "bfgs"]
    for method, res in runs.items():
        assert res.method == method
        assert res.time > 0
    # the trade-off the seed names: Newton needs far fewer iterations than GD
    assert runs["newton"].nit * 50 < runs["gd"].nit
    assert runs["newton"].nhev > 0 and runs["gd"].nhev == 0


@pytest.mark.slow
def test_default_methods_are_the_applicable_ones():
    runs = so.compare("(x - 1)**2 + (y + 2)**2", [0.0, 0.0], repeat=1)
    assert set(runs) == {"gd", "newton", "bfgs", "lbfgs", "trust-ncg", "trust-exact", "momentum", "nesterov",
                         "adam"}
    assert all(r.success for r in runs.values())


@pytest.mark.slow
def test_table_lists_every_method_with_its_counts():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["newton", "bfgs"], repeat=1)
    table = runs.table()
    assert "newton" in table and "bfgs" in table and "Hess ev" in table
    assert str(runs["newton"].nit) in table
    assert "<table>" in runs._repr_html_()


def test_history_is_recorded_on_request():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["newton"], history=True, repeat=1)
    assert len(runs["newton"].history["x"]) == runs["newton"].nit + 1


def test_unknown_method_and_empty_methods_are_errors():
    with pytest.raises(so.InputError, match="unknown method"):
        so.compare(ROSEN, [-1.2, 1.0], ["simplex"])
    with pytest.raises(so.InputError, match="empty"):
        so.compare(ROSEN, [-1.2, 1.0], [])
