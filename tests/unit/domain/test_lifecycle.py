import itertools

import pytest

from codeloop.domain.lifecycle import ALLOWED, IllegalTransition, TaskStatus, check_transition, is_terminal

ALL_PAIRS = list(itertools.product(TaskStatus, TaskStatus))
ALLOWED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED[a]]
REFUSED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED[a]]


def test_every_status_has_rules():
    assert set(ALLOWED) == set(TaskStatus)


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_allowed_transitions(current, target):
    assert check_transition(current.value, target.value) is target


@pytest.mark.parametrize(("current", "target"), REFUSED_PAIRS)
def test_refused_transitions_raise_a_clear_error(current, target):
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target)
    assert f"from {current} to {target}" in str(info.value)


def test_the_happy_path_and_a_fix_iteration_are_allowed():
    path = [
        "pending",
        "queued",
        "prompting",
        "generating",
        "validating",
        "prompting",
        "generating",
        "validating",
        "completed",
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


def test_terminal_states_only_reopen_through_retry_or_validate():
    assert is_terminal("completed") and is_terminal("failed") and is_terminal("cancelled")
    assert not is_terminal("generating")
    assert ALLOWED[TaskStatus.CANCELLED] == {TaskStatus.QUEUED}


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        check_transition("pending", "exploded")
