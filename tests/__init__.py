"""The test suite as a package (each folder mirrors a package of ``audit/``): every test module, conftest and helper
has one importable name (``tests.conftest``, ``tests.forge``, ``tests.serve.serving``), however many folders hold
a ``conftest.py`` or files of the same name."""
