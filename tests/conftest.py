import numpy as np
import pytest

from napari_steatosis.data.synthetic import write_sample_dataset


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """Six trichrome patients, two 256x320 images each, with every label kind."""
    return write_sample_dataset(tmp_path_factory.mktemp("ds") / "small", patients=6, per_patient=2,
                                size=(256, 320), seed=11)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
