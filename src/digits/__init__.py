"""digits: learn to recognize handwritten digits (MNIST) and read handwritten numbers."""

__version__ = "0.1.0"
