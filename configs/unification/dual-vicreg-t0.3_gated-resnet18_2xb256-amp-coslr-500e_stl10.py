# Unification, STL-10, the paper's recipe at target t = 0.3.
_base_ = ['./dual-vicreg-t0.5_gated-resnet18_2xb256-amp-coslr-500e_stl10.py']
target = 0.3
model = dict(
    budget_loss=dict(target=target), bound_loss=dict(target=target))
