# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMP-SSL's bag-of-features evaluation as an mmengine test loop."""
import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, set_random_seed
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from slim_plugins.registry import LOOPS
from slim_plugins.utils.width_naming import width_suffix
from .metrics.knn_accuracy import _labels, knn_class_votes

DEFAULT_PROBE = dict(
    lr=0.03, momentum=0.9, weight_decay=5e-5, batch_size=100, epochs=100)
DEFAULT_KNN = dict(k=20, temperature=0.07)


@LOOPS.register_module()
class BagOfFeaturesTestLoop(TestLoop):
    """Encode each image as the mean feature of many patches, then probe.

    The protocol of `EMP-SSL (Tong et al., 2023) <https://arxiv.org/abs/
    2304.03977>`_: the dataloaders' pipeline gives ``k`` patches per image
    (``MultiView``, the training augmentation; 128 in the paper); each image
    is the mean of the model's ``h`` (``model.embed(patches)['h']``) over
    its patches. On these cached features:

    * a linear probe ``Linear(D, C)`` is trained on the train split (SGD,
      cosine per epoch over ``epochs``; the paper: lr 0.03, momentum 0.9, wd
      5e-5, batch 100, 100 epochs); its *last*-epoch predictions on the test
      split go through the configured ``test_evaluator`` (e.g. mmpretrain's
      ``Accuracy``: ``accuracy/top1``). The best epoch on the test split is
      reported on its own as ``bof/probe_top1_best_epoch``: choosing it is
      test-set selection;
    * a weighted kNN (``k`` 20, ``T`` 0.07, cosine) gives ``bof/knn_top1``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The test split, ``k`` patches each.
        evaluator (Evaluator | dict | list): Scores the probe's predictions.
        train_dataloader (dict): The split the probe and the kNN memory come
            from, with the same patch pipeline.
        num_classes (int, optional): Defaults to the number of
            ``classes`` in the dataset's metainfo.
        probe (dict): ``lr``, ``momentum``, ``weight_decay``,
            ``batch_size``, ``epochs`` of the probe. Missing keys take the
            paper's values.
        knn (dict): ``k`` and ``temperature``. Defaults to 20 / 0.07.
        seed (int): Seeds the patches drawn and the probe. Defaults to 0.
        widths (list[float], optional): Evaluate a slimmable model (one with
            ``student_width``, e.g. ``SlimEMPSSL``) at each of these widths;
            the metrics get a width suffix (``accuracy/top1@w0.5``).
            Defaults to None (the model as it is).
        fp16 (bool): Run the encoder under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 train_dataloader: Dict,
                 num_classes: Optional[int] = None,
                 probe: Optional[Dict] = None,
                 knn: Optional[Dict] = None,
                 seed: int = 0,
                 widths: Optional[List[float]] = None,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.train_loader = runner.build_dataloader(
            copy.deepcopy(train_dataloader), seed=seed)
        unknown = set(probe or {}) - set(DEFAULT_PROBE)
        if unknown:
            raise ValueError(f'BagOfFeaturesTestLoop: unknown probe keys '
                             f'{sorted(unknown)}; use {sorted(DEFAULT_PROBE)}')
        self.probe = dict(DEFAULT_PROBE, **(probe or {}))
        self.knn = dict(DEFAULT_KNN, **(knn or {}))
        if self.knn['k'] < 1:
            raise ValueError(f'BagOfFeaturesTestLoop: knn k={self.knn["k"]} '
                             'must be >= 1.')
        if self.probe['epochs'] < 1 or self.probe['batch_size'] < 1:
            raise ValueError('BagOfFeaturesTestLoop: probe epochs and '
                             f'batch_size must be >= 1, got {self.probe}.')
        classes = (self.dataloader.dataset.metainfo or {}).get('classes')
        self.num_classes = num_classes or (len(classes) if classes else None)
        if not self.num_classes:
            raise ValueError('BagOfFeaturesTestLoop: set num_classes (the '
                             'dataset metainfo has no classes).')
        self.seed = seed
        self.widths = [float(w) for w in widths] if widths else None
        if self.widths and not hasattr(self._model(), 'student_width'):
            raise ValueError(
                f'BagOfFeaturesTestLoop: widths={widths} needs a slimmable '
                f'model with student_width(), got '
                f'{type(self._model()).__name__}.')

    def _model(self) -> nn.Module:
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @torch.no_grad()
    def encode(self,
               loader: DataLoader) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean ``h`` over each image's patches, and the labels.

        Returns:
            tuple[Tensor, Tensor]: ``(N, D)`` features, ``(N, )`` labels.
        """
        model = self._model()
        feats, labels = [], []
        set_random_seed(self.seed)  # the same patches in every evaluation
        for data_batch in loader:
            data = model.data_preprocessor(data_batch, False)
            views = data['inputs']
            if not isinstance(views, (list, tuple)):
                views = [views]
            with torch.autocast(
                    device_type=views[0].device.type, enabled=self.fp16):
                h = model.embed(torch.cat(views))['h'].float()
            # patch-major: row i * B + b is patch i of image b
            feats.append(h.reshape(len(views), -1, h.size(1)).mean(dim=0))
            labels.append(_labels(data['data_samples']))
        return torch.cat(feats).cpu(), torch.cat(labels).cpu()

    def train_probe(self, train: Tuple[torch.Tensor, torch.Tensor],
                    test: Tuple[torch.Tensor, torch.Tensor]
                    ) -> Tuple[torch.Tensor, List[float]]:
        """Train ``Linear(D, C)`` on cached features.

        Returns:
            tuple: The last epoch's test scores ``(N_test, C)`` and the test
            top-1 (%) after every epoch.
        """
        feats, labels = train
        cfg = self.probe
        generator = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            probe = nn.Linear(feats.size(1), self.num_classes)
        optimizer = torch.optim.SGD(
            probe.parameters(),
            lr=cfg['lr'],
            momentum=cfg['momentum'],
            weight_decay=cfg['weight_decay'])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg['epochs'])
        accuracies = []
        for _ in range(cfg['epochs']):
            order = torch.randperm(len(feats), generator=generator)
            for start in range(0, len(feats), cfg['batch_size']):
                index = order[start:start + cfg['batch_size']]
                loss = nn.functional.cross_entropy(
                    probe(feats[index]), labels[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            schedule.step()
            with torch.no_grad():
                scores = probe(test[0])
            accuracies.append(
                (scores.argmax(dim=1) == test[1]).float().mean().item() * 100)
        return scores, accuracies

    def run(self) -> dict:
        """Encode both splits, probe, kNN (per width); return the metrics."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        model = self._model().eval()
        if self.widths is None:
            metrics = self.evaluate_features()
        else:
            metrics = {}
            for width in self.widths:
                with model.student_width(width):
                    result = self.evaluate_features()
                suffix = width_suffix(width)
                metrics.update(
                    {f'{key}@{suffix}': value
                     for key, value in result.items()})
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def evaluate_features(self) -> dict:
        """Probe and kNN metrics of the model as it is now."""
        train = self.encode(self.train_loader)
        test = self.encode(self.dataloader)
        scores, accuracies = self.train_probe(train, test)
        samples = [
            DataSample().set_gt_label(label).set_pred_score(score)
            for score, label in zip(scores.softmax(dim=1), test[1])
        ]
        self.evaluator.process(data_samples=samples, data_batch=None)
        metrics = self.evaluator.evaluate(len(samples))
        votes = knn_class_votes(test[0], train[0], train[1],
                                self.num_classes, self.knn['k'],
                                temperature=self.knn['temperature'])
        metrics['bof/knn_top1'] = (votes.argmax(dim=1)
                                   == test[1]).float().mean().item() * 100
        metrics['bof/probe_top1_last_epoch'] = accuracies[-1]
        metrics['bof/probe_top1_best_epoch'] = max(accuracies)
        return metrics
