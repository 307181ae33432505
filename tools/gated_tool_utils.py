# Copyright (c) slim_plugins contributors. All rights reserved.
"""Helpers of the tools that inspect or export gated networks
(``tools/analysis_tools/gate_report.py``,
``tools/model_converters/export_gated.py``, ``benchmarks/gated_cost.py``)."""
from typing import Iterator, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from tool_utils import fail


def build_gated_model(cfg: Config, checkpoint: str) -> nn.Module:
    """The config's model with the checkpoint's weights (strictly), eval.

    Exits with a message naming the problem when the model has no gated
    backbone or the checkpoint does not fit it.
    """
    from mmengine.registry import init_default_scope

    from slim_plugins.evaluation.metrics import find_gated_backbone
    from slim_plugins.registry import MODELS
    from slim_plugins.utils import load_checkpoint_file, load_state_dict_strict
    init_default_scope('slim_plugins')
    model_cfg = cfg.model.copy()
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    try:
        find_gated_backbone(model)
    except TypeError as err:
        fail(f'{err} Use a config of a gated model (e.g. '
             f'configs/unification/benchmarks/).')
    state = load_checkpoint_file(checkpoint)
    state = state.get('state_dict', state)
    try:
        load_state_dict_strict(model, state, source=checkpoint)
    except (KeyError, RuntimeError, ValueError) as err:
        fail(f'{checkpoint} does not fit the model of the config: {err}')
    return model.eval()


def preprocessed_batches(
        model: nn.Module,
        cfg: Config,
        key: str,
        max_images: Optional[int] = None,
        desc: str = 'images'
) -> Iterator[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """``(inputs, labels)`` of the config's ``key`` dataloader, through the
    model's test-mode preprocessing (first view of multi-view batches;
    labels None when the samples have none), with a tqdm bar."""
    from mmengine.runner import Runner
    from tqdm import tqdm
    if not cfg.get(key, None):
        fail(f'the config has no {key}; use one that evaluates the gated '
             f'model (e.g. configs/unification/benchmarks/).')
    loader = Runner.build_dataloader(cfg[key])
    total = len(loader.dataset) if max_images is None else min(
        max_images, len(loader.dataset))
    seen = 0
    with tqdm(total=total, desc=desc, unit='img') as bar:
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data.get('data_samples')
            if isinstance(inputs, (list, tuple)):
                inputs = inputs[0]
            keep = min(inputs.shape[0], total - seen)
            labels = None
            if samples and samples[0].get('gt_label') is not None:
                labels = torch.cat(
                    [s.gt_label.reshape(-1)[:1] for s in samples[:keep]])
            seen += keep
            bar.update(keep)
            yield inputs[:keep], labels
            if seen >= total:
                return
