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
import importlib.util
import inspect
import os
import sys
from typing import Any, TypeVar
import weakref

import keras
import tensorflow as tf

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
      if _is_zoo(module):
        _refuse_keras_settings(cls)
        _track_every_weight(cls)
    return builder

  return decorator


# Keras' dtype policies a zoo network is built under: float32 variables (the videos, losses
# and logits stay float32), computing in float32, float16 or bfloat16.
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


class KerasSettingError(ValueError):
  """A Keras setting (image data format, dtype policy) that no zoo network can be built
  under; `build` passes it on as it is (no model's arguments are at fault)."""


def _refuse_keras_settings(cls: type) -> None:
  """Makes `cls(...)` refuse, in one line, the Keras settings its networks cannot run under.

  Keras' convolution, pooling and upsampling layers (and `keras.applications`) read
  `keras.config.image_data_format()` when they are made; the zoo's networks take and give
  channels-last videos [B, T, H, W, C], so under "channels_first" they failed deep inside
  TensorFlow, or on a GPU could compute on the wrong axes. A dtype policy with float64 or
  half-precision variables (`keras.config.set_floatx("float64")`, a "float16" policy) failed
  deep inside too (float32 data met float64 weights; TensorFlow has no float64 fused batch
  norm nor 3D pooling), or on a GPU ran some models and not others. Construction,
  `from_config`, `clone_model` and `load_model` all create the model through `__new__`,
  which now says so first (`__init__` stays as it is: Keras reads its signature).
  """
  new = cls.__new__
  if getattr(new, "_refuses_keras_settings", False):  # a class registered under two names
    return

  def checked_new(klass, *args, **kwargs):
    data_format = keras.config.image_data_format()
    if data_format != "channels_last":
      raise KerasSettingError(
        f"Expected Keras' image data format 'channels_last' to build {klass.__name__}, "
        f"received keras.config.image_data_format()={data_format!r}: the zoo's networks "
        "take and give channels-last videos [B, T, H, W, C]. Call "
        "keras.config.set_image_data_format('channels_last') before building one (or set "
        '"image_data_format" in ~/.keras/keras.json).'
      )
    policy = keras.config.dtype_policy().name
    if policy not in DTYPE_POLICIES:
      raise KerasSettingError(
        f"Expected Keras' dtype policy in {DTYPE_POLICIES} to build {klass.__name__}, "
        f"received {policy!r} (keras.config.floatx()={keras.config.floatx()!r}): the zoo's "
        "networks keep float32 variables and videos. Call keras.config.set_floatx('float32') "
        "and, for half precision, keras.config.set_dtype_policy('mixed_float16') (or "
        "'mixed_bfloat16') before building one."
      )
    return new(klass, *args, **kwargs)

  checked_new._refuses_keras_settings = True
  cls.__new__ = staticmethod(checked_new)


# Each model's weights_in_order object (`_track_every_weight`), with the weights it lists.
_IN_ORDER: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _track_every_weight(cls: type) -> None:
  """Makes TensorFlow's object tracking (`tf.train.Checkpoint`, `tf.saved_model.save`) reach
  every weight of a `cls` model, as Keras' own saving does.

  Keras 3 hands TensorFlow only the layers a model holds in plain attributes: those in lists
  or dicts (most of the zoo's blocks) were silently left out of `tf.train.Checkpoint(model=
  ...)`, and `tf.saved_model.save` stopped on an "untracked resource" where they are nested
  (Radner's style generator). A built model now also lists its weights in `model.weights`
  order, under "weights_in_order" (keys "0003_kernel", ...: what `trainers.workdir` saves).
  """
  children = cls._trackable_children
  if getattr(children, "_tracks_every_weight", False):  # a class registered under two names
    return

  def trackable_children(self, save_type="checkpoint", **kwargs):
    found = children(self, save_type, **kwargs)
    weights = self.weights if self.built else []
    if weights:
      key = tuple(id(v) for v in weights)
      if _IN_ORDER.get(self, (None,))[0] != key:  # one object per set of weights: TF
        _IN_ORDER[self] = (key, weights_in_order(self))  # TF walks the children more than once
      found["weights_in_order"] = _IN_ORDER[self][1]
    return found

  trackable_children._tracks_every_weight = True
  cls._trackable_children = trackable_children


def weights_in_order(model: Any) -> tf.train.Checkpoint:
  """The model's weights as a checkpointable object, keyed by position: `0003_kernel`, ...

  Keras 3 does not give tf.train.Checkpoint the layers a model keeps in Python lists or
  dicts, so `Checkpoint(generator=model)` of a model not registered here silently drops them
  (BN moving statistics included). Every weight is listed here instead, in `model.weights`
  order, which the same code always produces; restoring into a model of another shape fails
  on the shapes. The trainers' checkpoints hold each network so.
  """
  return tf.train.Checkpoint(**{f"{i:04d}_{v.name}": v for i, v in enumerate(model.weights)})


def load_families() -> None:
  """Imports every model family, which registers its models (`import zoo` calls this)."""
  global _families_loaded
  if _families_loaded:
    return
  _families_loaded = True
  for module in _FAMILIES:
    importlib.import_module(module)


class UnknownModelError(KeyError, ValueError):
  """A model name nothing registered; its message is one line ("Expected ...") that the
  command-line programs print without a traceback."""

  def __str__(self):
    return str(self.args[0]) if self.args else ""


def get(name: str) -> Builder:
  """Returns the registered class or factory for `name`."""
  load_families()
  if name not in _REGISTRY:
    raise UnknownModelError(
      f"Expected a registered model name, received {name!r} (unknown model). Known: "
      f"{', '.join(sorted(_REGISTRY))}. A model registered outside the zoo must be registered "
      "in this process too: import the module that registers it."
    )
  return _REGISTRY[name]


def _is_zoo(module: str) -> bool:
  return module == "zoo" or module.startswith("zoo.")


def _source_file(builder: Builder) -> str | None:
  """The file that defines `builder`: its module's, or for code loaded by path (a config
  file, which is not in sys.modules) the file of its own code."""
  module = sys.modules.get(getattr(builder, "__module__", "") or "")
  if getattr(module, "__file__", None):
    return os.path.abspath(module.__file__)
  functions = [builder] + (list(vars(builder).values()) if isinstance(builder, type) else [])
  for f in functions:
    code = getattr(f, "__code__", None)
    if code is not None and os.path.isfile(code.co_filename):
      return os.path.abspath(code.co_filename)
  return None


def outside_sources() -> dict[str, dict[str, str | None]]:
  """{name: {"module", "file"}} of the models registered from outside the zoo (a package of
  yours, a config file): what another process needs to register them again
  (`import_sources`). The trainer records it in a workdir's config.json, so that the
  readers of the workdir (export, evaluate, sample) find the model."""
  sources = {}
  for name, builder in sorted(_REGISTRY.items()):
    module = getattr(builder, "__module__", "") or ""
    if not _is_zoo(module):
      sources[name] = {"module": module, "file": _source_file(builder)}
  return sources


def import_sources(sources: dict) -> None:
  """Registers the models `outside_sources` recorded that this process lacks: imports each
  one's module by name, else executes its file. A ValueError ("Expected ...") names the
  model, module and file when neither registers it."""
  load_families()
  for name, where in sources.items():
    if name in _REGISTRY:
      continue
    module, path = where.get("module"), where.get("file")
    why = None
    try:
      importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 (the user's code: named in the message)
      why = f"{type(e).__name__}: {e}"
    # Not registered by its name (not importable here, or `__main__`, which is the reader's
    # own script): its file, run under another module name, so a script's main block is not.
    if name not in _REGISTRY and path and os.path.isfile(path):
      stem = os.path.splitext(os.path.basename(path))[0]
      spec = importlib.util.spec_from_file_location(f"registered_{stem}", path)
      try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
      except Exception as e:  # noqa: BLE001 (the user's code: named in the message)
        why = (why + "; " if why else "") + f"running {path} raised {type(e).__name__}: {e}"
    if name not in _REGISTRY:
      why = why or "importing it registered nothing"
      raise ValueError(
        f"Expected model {name!r} to be registered by module {module!r} (file {path}), as it "
        f"was when the workdir was trained; it is not registered here ({why}). Put the "
        "module on PYTHONPATH."
      )


def build(name: str, **kwargs: Any) -> Any:
  """Builds the model registered as `name` with keyword arguments from a config."""
  builder = get(name)
  try:
    inspect.signature(builder).bind(**kwargs)
  except TypeError as e:  # an argument it does not take, or one missing: the config's fault
    raise ValueError(
      f"Expected arguments that model {name!r} takes, received {sorted(kwargs)}: {e}."
    ) from None
  except ValueError:  # no signature to read
    pass
  try:
    return builder(**kwargs)
  except KerasSettingError:
    raise
  except ValueError as e:  # a value its checks refuse (or Keras', for a keyword it forwards)
    raise ValueError(
      f"Expected arguments that model {name!r} can be built with, received {kwargs}: {e}"
    ) from e
  except TypeError as e:  # a value of the wrong type, or a bug: keeps its traceback
    raise TypeError(f"Could not build model {name!r} with arguments {kwargs}: {e}") from e


def names() -> list[str]:
  """Sorted list of every registered model name."""
  load_families()
  return sorted(_REGISTRY)
