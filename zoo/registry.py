"""One registry for every network of the zoo.

`register(name)` decorates a class (or factory); `build(name, **kwargs)` constructs it;
`names()` lists what is registered. A duplicate name raises at registration, an unknown
name raises with the list of known ones (TF Model Garden's habit).

Model contract (what the trainer, sampler and exporter rely on):

* Generators: `zoo.base` states their contract (attributes, inputs by condition kind,
  shapes, dtypes and ranges) and `zoo.base.contract(generator)` reads it.
* Discriminators / critics: `call(video, condition=None, training=False)` -> [B, 1] logits
  (a PatchGAN: [B, N] patch logits, which the losses average).
* A network that draws randomness of its own (noise inputs, random frame choice) takes a
  keyword `seed=None` in `call`: a stateless seed [2]; the training task passes one derived
  from the loop's per-step seed (so a resumed run draws the same), and without one the
  network is deterministic.
"""

from collections.abc import Callable
import importlib
from typing import Any, TypeVar

import keras

# A registered class or factory: called with a config's keyword arguments.
Builder = Callable[..., Any]
_B = TypeVar("_B", bound=Builder)

# The families `import zoo` imports; each registers its models on import.
_FAMILIES = (
  "zoo.vgan",
  "zoo.relive",
  "zoo.egan",
  "zoo.radner",
  "zoo.i3d",
)

_REGISTRY: dict[str, Builder] = {}
_families_loaded = False


def register(name: str, keras_class: type | None = None) -> Callable[[_B], _B]:
  """Decorator: registers a class or factory under `name`; a duplicate raises ValueError.

  The Keras class behind the name (the decorated class itself, or `keras_class` for a
  factory) is also registered with Keras' serialization as "FAMILY>ClassName" (FAMILY is the
  zoo sub-package, e.g. "vgan>TwoStreamGenerator"; a model registered from outside the zoo
  keeps its module's name), so that `keras.saving.load_model` finds it in any process that
  has imported `zoo` (and, for an outside model, its module).
  """

  def decorator(builder: _B) -> _B:
    if name in _REGISTRY:
      raise ValueError(
        f"Model name {name!r} is already registered (by {_REGISTRY[name]!r}); "
        f"received a second registration from {builder!r}."
      )
    _REGISTRY[name] = builder
    cls = keras_class or builder
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
      module = cls.__module__
      family = module.split(".")[1] if module.startswith("zoo.") else module
      keras.saving.register_keras_serializable(package=family)(cls)
    return builder

  return decorator


def load_families() -> None:
  """Imports every model family, which registers its models (`import zoo` calls this)."""
  global _families_loaded
  if _families_loaded:
    return
  _families_loaded = True
  for module in _FAMILIES:
    importlib.import_module(module)


def get(name: str) -> Builder:
  """Returns the registered class or factory for `name`."""
  load_families()
  if name not in _REGISTRY:
    raise KeyError(f"Unknown model {name!r}. Expected one of: {', '.join(sorted(_REGISTRY))}.")
  return _REGISTRY[name]


def build(name: str, **kwargs: Any) -> Any:
  """Builds the model registered as `name` with keyword arguments from a config."""
  builder = get(name)
  try:
    return builder(**kwargs)
  except (TypeError, ValueError) as e:  # a bad argument: say which model got it
    raise type(e)(f"Could not build model {name!r} with arguments {sorted(kwargs)}: {e}") from e


def names() -> list[str]:
  """Sorted list of every registered model name."""
  load_families()
  return sorted(_REGISTRY)
