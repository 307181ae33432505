# Copyright (c) slim_plugins contributors. All rights reserved.
from .gated_macs import GatedMACs, find_gated_backbone
from .knn_accuracy import KNNAccuracy, extract_knn_features, knn_class_votes

__all__ = [
    'KNNAccuracy', 'extract_knn_features', 'knn_class_votes', 'GatedMACs',
    'find_gated_backbone'
]
