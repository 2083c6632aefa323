"""cmh_core: cross-modal hashing methods, Hamming search and evaluation.

Importing this package is cheap: it never imports streamlit, and torch / umap are imported
lazily inside the functions that need them.
"""

__version__ = "0.1.0"
