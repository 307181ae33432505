# Copyright (c) slim_plugins contributors. All rights reserved.
