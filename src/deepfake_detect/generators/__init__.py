"""Generators: `create_generator(name, weights=...)` gives a network that redraws a real
photograph as a generator would (an aligned fake). One file per family; importing this
package registers them all. A new generator is one decorated factory in a family file."""

from . import simulated, taesd, vae  # noqa: F401  (registration)
from .info import GeneratorInfo
from .registry import create_generator, default_generators, generator_info, list_generators, register_generator

__all__ = [
    "GeneratorInfo", "create_generator", "default_generators", "generator_info", "list_generators", "register_generator",
]
