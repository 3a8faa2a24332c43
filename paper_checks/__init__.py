"""The paper's claims C1–C11, one check script per claim.

In the source tree this is the top-level folder ``paper_checks/``; installed, it is the package
``monotheory.paper_checks``. ``monotheory check`` runs every script; each also runs alone
(``python paper_checks/c07_label_noise_crossover.py``).
"""
