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

import importlib

# Families register on import; imported lazily so that `import zoo` stays cheap.
_FAMILIES = (
    "zoo.vgan",
    "zoo.relive",
    "zoo.egan",
    "zoo.radner",
    "zoo.i3d",
)

_REGISTRY = {}
_families_loaded = False


def register(name):
  """Decorator: registers a class or factory under `name`; a duplicate raises ValueError."""

  def decorator(builder):
    if name in _REGISTRY:
      raise ValueError(
          f"Model name {name!r} is already registered (by {_REGISTRY[name]!r}); "
          f"received a second registration from {builder!r}.")
    _REGISTRY[name] = builder
    return builder

  return decorator


def _load_families():
  global _families_loaded
  if _families_loaded:
    return
  _families_loaded = True
  for module in _FAMILIES:
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as e:
      # A family that does not exist yet is fine; an import error inside one is not.
      if e.name != module:
        raise


def get(name):
  """Returns the registered class or factory for `name`."""
  _load_families()
  if name not in _REGISTRY:
    raise KeyError(
        f"Unknown model {name!r}. Expected one of: {', '.join(sorted(_REGISTRY))}.")
  return _REGISTRY[name]


def build(name, **kwargs):
  """Builds the model registered as `name` with keyword arguments from a config."""
  builder = get(name)
  try:
    return builder(**kwargs)
  except (TypeError, ValueError) as e:  # a bad argument: say which model got it
    raise type(e)(f"Could not build model {name!r} with arguments {sorted(kwargs)}: "
                  f"{e}") from e


def names():
  """Sorted list of every registered model name."""
  _load_families()
  return sorted(_REGISTRY)
