# Copyright (c) slim_plugins contributors. All rights reserved.
"""CIFAR-100 with its 20 super-class labels (MV-MR's CIFAR-20)."""
import pickle
from typing import List

from mmengine.fileio import get, join_path

from slim_plugins.registry import DATASETS
from .tiny_cifar import UncheckedCIFAR100

CIFAR20_CATEGORIES = (
    'aquatic_mammals', 'fish', 'flowers', 'food_containers',
    'fruit_and_vegetables', 'household_electrical_devices',
    'household_furniture', 'insects', 'large_carnivores',
    'large_man-made_outdoor_things', 'large_natural_outdoor_scenes',
    'large_omnivores_and_herbivores', 'medium_mammals',
    'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals',
    'trees', 'vehicles_1', 'vehicles_2')


@DATASETS.register_module()
class CIFAR20(UncheckedCIFAR100):
    """CIFAR-100 images labelled with their 20 super-classes.

    The CIFAR-100 pickles carry both ``fine_labels`` and ``coarse_labels``;
    this dataset reads the images as ``CIFAR100`` does and takes the coarse
    labels. Checksums are not compared (as ``UncheckedCIFAR100``), so a
    re-packed subset loads too; a file without coarse labels is refused.
    """

    METAINFO = {'classes': CIFAR20_CATEGORIES}

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        root = self.data_prefix['root']
        files = self.test_list if self.test_mode else self.train_list
        coarse = []
        for name, _ in files:
            entry = pickle.loads(
                get(join_path(root, self.base_folder, name)),
                encoding='latin1')
            if 'coarse_labels' not in entry:
                raise ValueError(
                    f'CIFAR20: {join_path(root, self.base_folder, name)} has '
                    'no coarse_labels; it is not a CIFAR-100 pickle.')
            coarse.extend(entry['coarse_labels'])
        if len(coarse) != len(data_list):
            raise ValueError(f'CIFAR20: {len(coarse)} coarse labels for '
                             f'{len(data_list)} images.')
        for info, label in zip(data_list, coarse):
            info['gt_label'] = int(label)
        return data_list
