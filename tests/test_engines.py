"""The engine registry: every engine keeps the one contract the commands rely on.

Whether each engine gives the local engine's results is tested per engine (the Ray engine in
test_ray_engine.py, which needs the [ray] extra); these need nothing extra.
"""

from __future__ import annotations

import pytest

from deepfake_detect.engines import ENGINES, EngineOptions, get_engine
from deepfake_detect.errors import UnknownNameError


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_registered_engine_keeps_the_engine_contract(name):
    """What every entry of the registry must be: named as registered, described for --help,
    carrying its options, with the three jobs the commands call."""
    options = EngineOptions(workers=0, runtime="torch", address="auto")
    engine = get_engine(name, options)
    assert engine.name == name and engine.description and engine.options is options
    assert all(callable(getattr(engine, job)) for job in ("extract", "predict", "make_fakes"))


def test_an_unknown_engine_is_one_line():
    with pytest.raises(UnknownNameError, match="engine 'spark'; choose from: local, ray"):
        get_engine("spark")
