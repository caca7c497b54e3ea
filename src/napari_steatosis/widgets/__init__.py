"""napari dock widgets: thin layers over the core (gather layer data, call core, show results)."""
