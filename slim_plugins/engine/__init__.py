# Copyright (c) slim_plugins contributors. All rights reserved.
from .fileio import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runners import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
