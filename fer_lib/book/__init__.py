"""The book's own helpers: one module per chapter (and the anchors, runs and recipes they share).

The core library never imports this package; the chapters call it to turn measurements into
tables and sentences, so that the notebooks only call functions and show what they return.
"""
