import pytest

from codeloop.domain.fix_strategy import FixStrategy, choose_fix_strategy


@pytest.mark.parametrize(
    ("attempt", "same_failure", "expected"),
    [
        (1, False, FixStrategy.REGENERATE_PROMPT),
        (1, True, FixStrategy.DIFFERENT_APPROACH),
        (2, True, FixStrategy.DIFFERENT_APPROACH),
        (3, True, FixStrategy.REDUCED_SCOPE),
        (5, True, FixStrategy.REDUCED_SCOPE),
        (5, False, FixStrategy.REGENERATE_PROMPT),
    ],
)
def test_choose_fix_strategy(attempt, same_failure, expected):
    assert choose_fix_strategy(attempt, same_failure) is expected
