# Copyright (c) slim_plugins contributors. All rights reserved.
"""Weighted k-nearest-neighbour accuracy of a model's frozen features.

The classifier of InstDisc (https://arxiv.org/abs/1805.01978) as used by
solo-learn and US3L: the features of the *training* set (the memory bank)
vote for the class of each test image. With cosine similarity on
L2-normalised features, each of the ``k`` nearest neighbours votes for its
class with weight ``exp(sim / T)``; with euclidean distance it votes with
``1 / (d + eps)`` (solo-learn / Unification; irrelevant for ``k = 1``).

The memory bank is computed by the evaluated model itself, at evaluation
time: :meth:`KNNAccuracy.evaluate` forwards the ``memory_dataloader``
through the model in its current state. Inside
:class:`~slim_plugins.engine.runners.MultiWidthTestLoop` (and the val loop)
that is the width being evaluated, with its calibrated BN statistics, so
every width gets a fresh bank of its own. The model is handed to the metric
by :class:`~slim_plugins.engine.hooks.KNNMemoryHook`.
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import collect_results, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier
from torch.utils.data import DataLoader

from slim_plugins.registry import METRICS

DISTANCES = ('cosine', 'euclidean')
WEIGHTINGS = ('exp', 'inverse', 'uniform')
DEFAULT_WEIGHTING = dict(cosine='exp', euclidean='inverse')
DEFAULT_KNN_CFGS = (
    dict(k=20, distance='cosine', temperature=0.07),
    dict(k=1, distance='euclidean'),
)


def extract_knn_features(model: nn.Module,
                         data_batch: Any,
                         out_index: int = -1
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pooled backbone features and labels of one dataloader batch.

    The batch goes through the model's data preprocessor (test mode), then
    ``model.extract_feat``: with ``stage='backbone'`` for an mmpretrain
    ``ImageClassifier`` (so a neck or head never changes the features), as
    is for a self-supervised model (``BaseSelfSupervisor.extract_feat``
    returns the backbone outputs). Output ``out_index`` of the backbone is
    global-average pooled. Multi-view batches use their first view.

    Args:
        model (nn.Module): The model (not a DDP wrapper).
        data_batch (Any): A batch as collated by the dataloader.
        out_index (int): Which backbone output to use. Defaults to -1.

    Returns:
        tuple[Tensor, Tensor]: ``(N, C)`` float features and ``(N, )``
        labels (from the data samples' ``gt_label``).
    """
    data = model.data_preprocessor(data_batch, False)
    if isinstance(data, dict):
        inputs, samples = data['inputs'], data.get('data_samples')
    else:
        inputs, samples = data[0], data[1]
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    if isinstance(model, ImageClassifier):
        feats = model.extract_feat(inputs, stage='backbone')
    else:
        feats = model.extract_feat(inputs)
    if isinstance(feats, (list, tuple)):
        feats = feats[out_index]
    if feats.dim() > 2:
        feats = feats.flatten(2).mean(dim=2)
    return feats.float(), _labels(samples)


def _labels(samples: Optional[Sequence[Any]]) -> torch.Tensor:
    if not samples:
        raise ValueError('KNNAccuracy needs labelled data: the batch has no '
                         'data samples; end the pipeline with PackInputs '
                         'on a dataset with labels.')
    labels = []
    for sample in samples:
        label = sample.get('gt_label') if isinstance(sample, dict) else \
            getattr(sample, 'gt_label', None)
        if label is None:
            raise ValueError('KNNAccuracy needs the `gt_label` of every '
                             'sample; use a labelled dataset for both the '
                             'memory and the evaluated data.')
        labels.append(torch.as_tensor(label).reshape(-1)[:1])
    return torch.cat(labels).long()


def _per_sample(feats: torch.Tensor, labels: torch.Tensor
                ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    # Clones, so that collecting across ranks pickles one row per sample,
    # not the storage of the whole batch.
    return [(f.clone(), lb.clone())
            for f, lb in zip(feats.detach().cpu(), labels.cpu())]


def knn_class_votes(query: torch.Tensor,
                    bank: torch.Tensor,
                    bank_labels: torch.Tensor,
                    num_classes: int,
                    k: int,
                    distance: str = 'cosine',
                    weighting: Optional[str] = None,
                    temperature: float = 0.07,
                    eps: float = 1e-5,
                    chunk_size: int = 256) -> torch.Tensor:
    """Summed neighbour weights per class of a weighted kNN classifier.

    Args:
        query (Tensor): ``(Q, D)`` features to classify.
        bank (Tensor): ``(N, D)`` memory features.
        bank_labels (Tensor): ``(N, )`` labels of the memory.
        num_classes (int): Number of classes.
        k (int): Neighbours per query, ``1 <= k <= N``.
        distance (str): ``'cosine'`` (similarity of L2-normalised features)
            or ``'euclidean'`` (distance of the raw features).
        weighting (str, optional): ``'exp'`` (cosine only:
            ``exp(sim / T)``), ``'inverse'`` (euclidean only:
            ``1 / (d + eps)``) or ``'uniform'`` (majority vote). Defaults
            to ``'exp'`` for cosine and ``'inverse'`` for euclidean.
        temperature (float): ``T`` of the ``'exp'`` weighting.
        eps (float): ``eps`` of the ``'inverse'`` weighting.
        chunk_size (int): Queries compared with the bank at once.

    Returns:
        Tensor: ``(Q, num_classes)`` votes.
    """
    weighting = _check_knn(k, distance, weighting, temperature)
    if k > bank.shape[0]:
        raise ValueError(f'kNN with k={k} needs at least {k} memory '
                         f'samples, the bank has {bank.shape[0]}; lower k '
                         f'or use a larger memory_dataloader.')
    if query.shape[1] != bank.shape[1]:
        raise ValueError(f'query features have {query.shape[1]} channels '
                         f'but the memory bank {bank.shape[1]}: the bank '
                         f'must come from the same model at the same width.')
    if distance == 'cosine':
        query = F.normalize(query, dim=1)
        bank = F.normalize(bank, dim=1)
    votes = query.new_zeros(query.shape[0], num_classes)
    for start in range(0, query.shape[0], chunk_size):
        chunk = query[start:start + chunk_size]
        if distance == 'cosine':
            # sim(q, b) = <q / |q|, b / |b|>
            values, index = (chunk @ bank.t()).topk(k, dim=1)
        else:
            # d(q, b) = |q - b|_2
            dist = torch.cdist(
                chunk, bank, compute_mode='donot_use_mm_for_euclid_dist')
            values, index = dist.topk(k, dim=1, largest=False)
        if weighting == 'exp':
            weights = (values / temperature).exp()  # w = exp(sim / T)
        elif weighting == 'inverse':
            weights = 1. / (values + eps)  # w = 1 / (d + eps)
        else:
            weights = torch.ones_like(values)
        votes[start:start + chunk_size].scatter_add_(1, bank_labels[index],
                                                     weights)
    return votes


def _check_knn(k: int, distance: str, weighting: Optional[str],
               temperature: float) -> str:
    """Validate one kNN configuration; return its weighting."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f'kNN k={k!r}: k must be an integer >= 1.')
    if distance not in DISTANCES:
        raise ValueError(f'kNN distance={distance!r}: choose one of '
                         f'{DISTANCES}.')
    weighting = weighting or DEFAULT_WEIGHTING[distance]
    if weighting not in WEIGHTINGS:
        raise ValueError(f'kNN weighting={weighting!r}: choose one of '
                         f'{WEIGHTINGS}.')
    if (weighting, distance) in (('exp', 'euclidean'),
                                 ('inverse', 'cosine')):
        raise ValueError(f'kNN weighting={weighting!r} does not apply to '
                         f'distance={distance!r}: "exp" weighs cosine '
                         f'similarities, "inverse" euclidean distances.')
    if weighting == 'exp' and not temperature > 0:
        raise ValueError(f'kNN temperature={temperature} must be > 0.')
    return weighting


@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Top-k accuracy of weighted kNN classifiers on the model's features.

    Features are the pooled backbone outputs (see
    :func:`extract_knn_features`) of the evaluated data and, as memory, of
    ``memory_dataloader`` (the training set with the *test* pipeline). The
    memory is recomputed at every :meth:`evaluate`, i.e. once per width
    under the multi-width loops. The model comes from
    :class:`~slim_plugins.engine.hooks.KNNMemoryHook`, which must be in
    ``custom_hooks``.

    Keys are ``<prefix>/top<t>_<name>`` with ``name`` defaulting to
    ``k<k>``, e.g. ``knn/top1_k20`` and ``knn/top1_k1`` for the defaults:
    k = 20 cosine with ``exp(sim / 0.07)`` weights (solo-learn, US3L) and
    k = 1 euclidean (Unification/SlimCLR).

    Args:
        memory_dataloader (dict | DataLoader): The memory (training) data.
        knn_cfgs (Sequence[dict]): kNN classifiers, each with ``k`` and
            optionally ``distance`` (``'cosine'``), ``weighting`` (see
            :func:`knn_class_votes`), ``temperature`` (0.07), ``eps``
            (1e-5) and ``name``. Defaults to the two above.
        topk (Sequence[int]): Accuracies reported. Defaults to ``(1, )``.
        out_index (int): Backbone output used. Defaults to -1.
        chunk_size (int): Queries compared with the bank at once.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'knn'``.
        collect_dir (str, optional): Folder for cpu collection.

    Example:
        >>> test_evaluator = dict(
        ...     type='KNNAccuracy',
        ...     memory_dataloader=dict(
        ...         batch_size=256,
        ...         sampler=dict(type='DefaultSampler', shuffle=False),
        ...         dataset=dict(type='CIFAR10', data_root='data/cifar10',
        ...                      split='train', pipeline=test_pipeline)))
        >>> custom_hooks = [dict(type='KNNMemoryHook')]
    """

    default_prefix = 'knn'

    def __init__(self,
                 memory_dataloader: Union[dict, DataLoader],
                 knn_cfgs: Sequence[dict] = DEFAULT_KNN_CFGS,
                 topk: Sequence[int] = (1, ),
                 out_index: int = -1,
                 chunk_size: int = 256,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if not isinstance(memory_dataloader, (dict, DataLoader)):
            raise TypeError(f'KNNAccuracy(memory_dataloader=...) must be a '
                            f'dataloader config or DataLoader, got '
                            f'{type(memory_dataloader).__name__}; give it '
                            f'the training set with the test pipeline.')
        if not knn_cfgs:
            raise ValueError('KNNAccuracy needs at least one entry in '
                             '`knn_cfgs`, e.g. [dict(k=20)].')
        topk = tuple(int(t) for t in topk)
        if not topk or min(topk) < 1:
            raise ValueError(f'KNNAccuracy(topk={topk}): give positive '
                             f'integers, e.g. (1, 5).')
        self.knn_cfgs: List[dict] = []
        for cfg in knn_cfgs:
            cfg = dict(cfg)
            unknown = set(cfg) - {
                'k', 'distance', 'weighting', 'temperature', 'eps', 'name'
            }
            if 'k' not in cfg or unknown:
                raise ValueError(f'KNNAccuracy knn_cfgs entry {cfg}: needs '
                                 f'`k`; unknown keys {sorted(unknown)}.')
            cfg.setdefault('distance', 'cosine')
            cfg.setdefault('temperature', 0.07)
            cfg.setdefault('eps', 1e-5)
            cfg['weighting'] = _check_knn(cfg['k'], cfg['distance'],
                                          cfg.get('weighting'),
                                          cfg['temperature'])
            cfg.setdefault('name', f'k{cfg["k"]}')
            self.knn_cfgs.append(cfg)
        names = [cfg['name'] for cfg in self.knn_cfgs]
        if len(set(names)) != len(names):
            raise ValueError(f'KNNAccuracy knn_cfgs have duplicated names '
                             f'{names}; give entries with the same k a '
                             f'distinct `name`.')
        self.memory_dataloader = memory_dataloader
        self.topk = topk
        self.out_index = out_index
        self.chunk_size = chunk_size
        self._model: Optional[nn.Module] = None
        self._loader: Optional[DataLoader] = None
        self._seed: Optional[int] = None
        self._memory: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    def bind(self, model: nn.Module, seed: Optional[int] = None) -> None:
        """Use ``model`` for the features (called by ``KNNMemoryHook``).

        Args:
            model (nn.Module): The evaluated model (wrappers are unwrapped).
            seed (int, optional): Seed of the memory dataloader.
        """
        self._model = model.module if is_model_wrapper(model) else model
        if seed != self._seed:
            self._loader = None
        self._seed = seed

    def _get_model(self) -> nn.Module:
        if self._model is None:
            raise ValueError(
                'KNNAccuracy has no model to compute features with: add '
                "dict(type='KNNMemoryHook') to custom_hooks.")
        return self._model

    def _memory_loader(self) -> DataLoader:
        if self._loader is None:
            if isinstance(self.memory_dataloader, DataLoader):
                self._loader = self.memory_dataloader
            else:
                self._loader = Runner.build_dataloader(
                    copy.deepcopy(self.memory_dataloader), seed=self._seed)
        return self._loader

    @torch.no_grad()
    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the features and labels of one evaluated batch.

        The model's outputs (``data_samples``) are not used: the features
        are extracted from ``data_batch`` directly.
        """
        feats, labels = extract_knn_features(self._get_model(), data_batch,
                                             self.out_index)
        self.results.extend(_per_sample(feats, labels))

    @torch.no_grad()
    def build_memory(self) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """Features and labels of the memory data with the model as it is.

        Runs on every rank (each extracts its shard); the result is gathered
        on the main process (None elsewhere).
        """
        model = self._get_model()
        loader = self._memory_loader()
        items: List[Tuple[torch.Tensor, torch.Tensor]] = []
        for batch in loader:
            feats, labels = extract_knn_features(model, batch, self.out_index)
            items.extend(_per_sample(feats, labels))
        size = len(loader.dataset)
        if self.collect_device == 'cpu':
            items = collect_results(items, size, 'cpu', self.collect_dir)
        else:
            items = collect_results(items, size, self.collect_device)
        if not is_main_process():
            return None
        if not items:
            raise ValueError('KNNAccuracy: the memory_dataloader gave no '
                             'samples; point it at the training set.')
        feats = torch.stack([f.cpu() for f, _ in items])
        labels = torch.stack([lb.cpu() for _, lb in items])
        return feats, labels

    def evaluate(self, size: int) -> dict:
        """Build a fresh memory bank, then compute the metrics."""
        self._memory = self.build_memory()
        try:
            return super().evaluate(size)
        finally:
            self._memory = None

    def compute_metrics(self, results: List[Tuple[torch.Tensor,
                                                  torch.Tensor]]
                        ) -> Dict[str, float]:
        """Accuracies of every kNN configuration.

        Args:
            results (list[tuple[Tensor, Tensor]]): ``(feature, label)`` of
                every evaluated sample.

        Returns:
            dict[str, float]: ``top<t>_<name>`` in percent.
        """
        if self._memory is None:
            raise RuntimeError('KNNAccuracy.compute_metrics runs inside '
                               'evaluate(), which builds the memory bank.')
        bank, bank_labels = self._memory
        query = torch.stack([f for f, _ in results])
        labels = torch.stack([lb for _, lb in results])
        num_classes = int(max(bank_labels.max(), labels.max())) + 1
        if self.dataset_meta and self.dataset_meta.get('classes'):
            num_classes = max(num_classes, len(self.dataset_meta['classes']))
        if max(self.topk) > num_classes:
            raise ValueError(f'KNNAccuracy(topk={self.topk}) asks for more '
                             f'classes than the {num_classes} there are.')
        device = next(self._get_model().parameters()).device
        bank, bank_labels = bank.to(device), bank_labels.to(device)
        query, labels = query.to(device), labels.to(device)
        metrics = {}
        for cfg in self.knn_cfgs:
            votes = knn_class_votes(
                query,
                bank,
                bank_labels,
                num_classes,
                cfg['k'],
                distance=cfg['distance'],
                weighting=cfg['weighting'],
                temperature=cfg['temperature'],
                eps=cfg['eps'],
                chunk_size=self.chunk_size)
            ranked = votes.topk(max(self.topk), dim=1).indices
            for t in self.topk:
                hit = (ranked[:, :t] == labels[:, None]).any(dim=1)
                metrics[f'top{t}_{cfg["name"]}'] = \
                    hit.float().mean().item() * 100
        return metrics
