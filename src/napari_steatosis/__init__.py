"""napari-steatosis: steatosis and fibrosis quantification in liver histology.

Importing this package is cheap: no napari, no Qt and no TensorFlow are imported here.
"""

__version__ = "0.1.0"
