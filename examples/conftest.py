# Loads monotheory's Hypothesis profiles (derandomised "ci" by default). An installed monotheory loads the
# plugin by itself (pytest11 entry point of the same name), so this line is only needed for a source checkout.
pytest_plugins = ["monotheory.pytest_plugin"]
