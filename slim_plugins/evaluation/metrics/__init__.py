# Copyright (c) slim_plugins contributors. All rights reserved.
from .knn_accuracy import KNNAccuracy, extract_knn_features, knn_class_votes

__all__ = ['KNNAccuracy', 'extract_knn_features', 'knn_class_votes']
