"""The report's own code: one module per chapter, the figures, the SymPy derivations and the runner.

The chapters (``book/*.ipynb``) call these modules and show what they return. This package builds on
``fer_lib``; ``fer_lib`` never imports it.
"""
