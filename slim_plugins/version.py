# Copyright (c) slim_plugins contributors. All rights reserved.
__version__ = '0.1.0'
