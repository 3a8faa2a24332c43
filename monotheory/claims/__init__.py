"""The claims of the paper, checked: the one decision rule (``rules``), verdict rows, the check runner,
``verify``, and the readers that turn a ``run-imagenet`` or digits results folder into verdict rows.

Light on purpose (no torch): ``monotheory check`` runs the checks that need only the theory on the core install.
"""
