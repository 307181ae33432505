# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest

from slim_plugins.utils import interleaved_medians


def test_every_function_runs_warmup_plus_repeats_interleaved():
    calls = []
    medians = interleaved_medians(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')), 3)
    assert set(medians) == {'a', 'b'}
    assert all(v >= 0 for v in medians.values())
    assert calls == ['a', 'b'] * 4  # warm-up, then 3 interleaved rounds
    with pytest.raises(ValueError, match='repeats=0'):
        interleaved_medians(dict(a=lambda: None), 0)
