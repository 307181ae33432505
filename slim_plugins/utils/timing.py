# Copyright (c) slim_plugins contributors. All rights reserved.
"""Timing several pieces of code so that machine noise hits all alike."""
import statistics
import time
from typing import Callable, Dict, List


def interleaved_medians(fns: Dict[str, Callable[[], None]],
                        repeats: int) -> Dict[str, float]:
    """Median seconds of each function over ``repeats`` rounds.

    Every function runs once as a warm-up, then each round calls every
    function once, in order, so that a slow stretch of the machine slows
    all of them rather than one: ratios of the medians are what the
    benchmarks report.

    Args:
        fns (dict[str, Callable]): Named functions without arguments.
        repeats (int): Rounds, ``>= 1``.

    Returns:
        dict[str, float]: Median seconds per name.
    """
    if repeats < 1:
        raise ValueError(f'interleaved_medians: repeats={repeats} must be '
                         f'>= 1.')
    for fn in fns.values():
        fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
