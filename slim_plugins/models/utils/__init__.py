# Copyright (c) slim_plugins contributors. All rights reserved.
from .ema_teacher import MOMENTUM_SCHEDULES, TEACHER_SOURCES, EMATeacher

__all__ = ['EMATeacher', 'TEACHER_SOURCES', 'MOMENTUM_SCHEDULES']
