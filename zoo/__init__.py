"""VideoGAN Zoo models: Keras 3 subclassed networks, shared layers, the registry.

Build any model by name with `zoo.registry.build(name, **config)`; `zoo.registry.names()`
lists them. Importing `zoo` registers every model family, with the registry and with Keras'
serialization, so a model saved with `model.save("x.keras")` loads with
`keras.saving.load_model("x.keras")` in any process that has run `import zoo`.
"""

from zoo import registry as _registry

_registry.load_families()
