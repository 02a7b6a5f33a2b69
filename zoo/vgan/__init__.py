"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016): generators, discriminators, baselines.

Importing this package registers `vgan_one_stream`, `vgan_two_stream` and
`vgan_image_to_video`.
"""

from zoo.vgan import generators
