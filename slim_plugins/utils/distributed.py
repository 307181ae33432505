# Copyright (c) slim_plugins contributors. All rights reserved.
"""Tearing a process group down so that no rank aborts at exit.

``torch.distributed.destroy_process_group()`` only drops c10d's own
references to a group. Anything else that still holds it, above all a
``DistributedDataParallel`` wrapper (``module.process_group``) kept alive by
a runner, keeps the C++ group and its gloo worker threads alive until the
interpreter shuts down. Destroyed then, a worker thread that frees a tensor
needs the GIL of a finalising interpreter, and the rank dies with
"terminate called without an active exception" (SIGABRT) after its work is
done: the flake of the two-rank tests and of CPU ``dist_train.sh`` runs.

:func:`close_process_groups` therefore destroys the groups, collects
garbage, and checks through weak references that every group is really
gone; if one is not, it raises and names what still holds it.
"""
import gc
import weakref
from typing import Any, List

import torch.distributed as dist


def _holders(group: Any, ignore: Any) -> List[str]:
    """Readable names of the objects that reference ``group``."""
    names = []
    for referrer in gc.get_referrers(group):
        if referrer is ignore:
            continue
        if isinstance(referrer, dict):
            keys = [key for key, value in referrer.items() if value is group]
            owners = [
                type(owner).__name__ for owner in gc.get_referrers(referrer)
                if getattr(owner, '__dict__', None) is referrer
            ]
            owner = owners[0] if owners else 'a dict'
            names += [f'{owner}.{key}' for key in keys] or [owner]
        else:
            names.append(type(referrer).__name__)
    return names or ['an object outside Python (e.g. pending work)']


def close_process_groups(wait_for_all_ranks: bool = True) -> None:
    """Destroy every process group and check that none outlives the call.

    Args:
        wait_for_all_ranks (bool): Meet the other ranks (a barrier) first,
            so no rank tears gloo down while another still uses it. Pass
            False when leaving on an error: the other ranks may never get
            there. Defaults to True.

    Raises:
        RuntimeError: If a group is still referenced after it was
            destroyed (release the runner or model that holds it first);
            the message names the holders.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if wait_for_all_ranks:
        dist.barrier()
    world = getattr(dist.distributed_c10d, '_world', None)
    groups = list(getattr(world, 'pg_map', {}) or [dist.group.WORLD])
    refs = [weakref.ref(group) for group in groups]
    del groups
    dist.destroy_process_group()
    gc.collect()
    alive = [ref() for ref in refs if ref() is not None]
    if alive:
        holders = sorted(
            {name
             for group in alive for name in _holders(group, alive)})
        del alive
        raise RuntimeError(
            'a process group is still referenced after '
            f'destroy_process_group(), by {", ".join(holders)}; it would be '
            'torn down at interpreter exit, where gloo aborts ("terminate '
            'called without an active exception"). Release the runner or '
            'model that holds it (e.g. return from the function that built '
            'it) before closing the process group.')
