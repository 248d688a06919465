"""lassonet_ext: LassoNet with a native HIER-PROX op, a fast path trainer and sklearn estimators."""
from .ops import HAS_NATIVE, hier_prox

__version__ = "0.1.0"
__all__ = ["hier_prox", "HAS_NATIVE", "__version__"]
