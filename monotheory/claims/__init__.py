"""Claims: the one decision rule, the check runner, verify and the readers of results folders."""
