# Copyright (c) slim_plugins contributors. All rights reserved.
"""A multi-width ``ImageClassifier`` for engine tests (not in the package).

Test configs import it with ``custom_imports``; the tests put ``tests/data``
on ``PYTHONPATH`` of the ``tools/train.py`` process.
"""
from mmpretrain.models import ImageClassifier

from slim_plugins.models.algorithms import MultiWidthTrainMixin
from slim_plugins.ops import SlimLinear
from slim_plugins.registry import MODELS


@MODELS.register_module()
class ToyMultiWidthClassifier(MultiWidthTrainMixin, ImageClassifier):
    """Supervised classifier trained at several widths per iteration.

    The head's ``fc`` becomes a :class:`~slim_plugins.ops.SlimLinear` whose
    input follows the backbone's width (same channel rule).

    Args:
        step_mode (str): ``'accumulate'`` or ``'per_width'``.
        **kwargs: Arguments of mmpretrain's ``ImageClassifier``.
    """

    def __init__(self, step_mode: str = 'accumulate', **kwargs) -> None:
        super().__init__(**kwargs)
        fc = self.head.fc
        self.head.fc = SlimLinear(
            fc.in_features,
            fc.out_features,
            slim_in=True,
            slim_out=False,
            channel_rule=self.backbone.channel_rule)
        self.init_multi_width(step_mode)
