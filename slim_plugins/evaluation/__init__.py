# Copyright (c) slim_plugins contributors. All rights reserved.
from .bag_of_features_loop import BagOfFeaturesTestLoop
from .metrics import *  # noqa: F401,F403

__all__ = ['BagOfFeaturesTestLoop']
