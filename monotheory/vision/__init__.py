"""Full-scale vision layer (torch + torchvision): ImageNet-100 / CIFAR-100 data, CL/NCL encoders, SAE,
linear probing, fine-tuning (CE vs NCE) and distribution shift.

Kept import-light on purpose: import the submodules you need (``monotheory.vision.data`` …); nothing here
imports torch or torchvision, so ``monotheory --help`` stays fast.
"""
