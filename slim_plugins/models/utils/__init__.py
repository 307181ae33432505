# Copyright (c) slim_plugins contributors. All rights reserved.
from .channel_gate import ChannelGate
from .ema_teacher import MOMENTUM_SCHEDULES, TEACHER_SOURCES, EMATeacher
from .gate_usage import GateUsage, collect_gate_usage
from .subnet_export import export_subnet, find_slim_resnet, mmpretrain_config
from .width_complexity import WidthComplexity, width_complexity

__all__ = [
    'ChannelGate', 'GateUsage', 'collect_gate_usage', 'EMATeacher',
    'TEACHER_SOURCES', 'MOMENTUM_SCHEDULES',
    'export_subnet', 'find_slim_resnet', 'mmpretrain_config',
    'WidthComplexity', 'width_complexity'
]
