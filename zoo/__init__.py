"""VideoGAN Zoo models: Keras 3 subclassed networks, shared layers, the registry.

Build any model by name with `zoo.registry.build(name, **config)`; `zoo.registry.names()`
lists them. Importing `zoo` registers every model family, with the registry and with Keras'
serialization, so a model saved with `model.save("x.keras")` loads with
`keras.saving.load_model("x.keras")` in any process that has run `import zoo`.
"""

import os as _os

# The models call TensorFlow ops: Keras runs on its TensorFlow backend, whatever KERAS_BACKEND
# or ~/.keras/keras.json say (Keras 3 users often choose jax or torch there). Set before Keras
# loads; `trainers`, `export`, `configs` and `bench` set it too, as they may load Keras first.
_os.environ["KERAS_BACKEND"] = "tensorflow"

import keras as _keras

if _keras.backend.backend() != "tensorflow":
  raise ImportError(
    "Expected Keras on its TensorFlow backend, received Keras already loaded with the "
    f"{_keras.backend.backend()!r} backend (KERAS_BACKEND or ~/.keras/keras.json): import zoo "
    "before keras, or run with KERAS_BACKEND=tensorflow."
  )

from zoo import registry as _registry

_registry.load_families()
