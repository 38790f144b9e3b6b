import pytest

from clusterstats.params import ParameterError, check_alpha, check_choice, check_subset, check_year_range


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, "x", None])
def test_alpha_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ParameterError, match="alpha"):
        check_alpha(bad)


def test_alpha_accepts_strings_from_the_cli():
    assert check_alpha("0.1") == 0.1


def test_unknown_region_lists_valid_ones():
    with pytest.raises(ParameterError, match=r"BG99.*valid values: BG31, BG32"):
        check_subset(["BG31", "BG99"], ["BG31", "BG32"], "regions")


def test_choice_and_window():
    assert check_choice("BG", ["BG", "RO"], "country") == "BG"
    with pytest.raises(ParameterError, match="outside the data, which cover 2008–2018"):
        check_year_range(2005, 2010, range(2008, 2019))
    with pytest.raises(ParameterError, match="after end"):
        check_year_range(2016, 2013, range(2008, 2019))
    assert check_year_range(2013, 2016, range(2008, 2019)) == (2013, 2016)
