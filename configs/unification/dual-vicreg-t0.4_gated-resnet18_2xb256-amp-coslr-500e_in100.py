# Unification, ImageNet-100, the paper's recipe at target t = 0.4.
_base_ = ['./dual-vicreg-t0.5_gated-resnet18_2xb256-amp-coslr-500e_in100.py']
target = 0.4
model = dict(
    budget_loss=dict(target=target), bound_loss=dict(target=target))
