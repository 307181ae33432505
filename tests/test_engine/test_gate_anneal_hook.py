# Copyright (c) slim_plugins contributors. All rights reserved.
"""GateAnnealHook: p(epoch) = exp(-alpha * epoch), the warm-up."""
import math

import pytest

from slim_plugins.engine.hooks import GateAnnealHook


def test_schedule_against_the_formula():
    hook = GateAnnealHook(alpha=0.02)
    assert hook.schedule(0) == (1.0, True)
    p, on = hook.schedule(50)
    assert on and p == pytest.approx(math.exp(-1.0))  # 0.37
    assert hook.schedule(100)[0] == pytest.approx(0.1353, abs=1e-4)


def test_warmup_epochs_are_dense_and_offset_p():
    hook = GateAnnealHook(alpha=0.02, warmup_gate_epochs=10)
    assert hook.schedule(9) == (1.0, False)
    assert hook.schedule(10) == (1.0, True)
    assert hook.schedule(60)[0] == pytest.approx(math.exp(-1.0))


@pytest.mark.parametrize('kwargs,match', [
    (dict(alpha=-0.1), 'alpha=-0.1'),
    (dict(warmup_gate_epochs=-1), 'warmup_gate_epochs=-1'),
    (dict(warmup_gate_epochs=1.5), 'warmup_gate_epochs=1.5'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GateAnnealHook(**kwargs)
