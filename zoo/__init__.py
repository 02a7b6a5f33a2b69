"""VideoGAN Zoo models: Keras 3 subclassed networks, shared layers, the registry.

Build any model by name with `zoo.registry.build(name, **config)`; `zoo.registry.names()`
lists them. Importing `zoo` is cheap: the model families register themselves on first use
of the registry.
"""
