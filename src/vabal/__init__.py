"""VaB-AL: class-imbalance-aware active learning with variational Bayes.

Choi, Yi et al., CVPR 2021.
"""

__version__ = "0.1.0"
