"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016): generators, discriminators, baselines.

Importing this package registers `vgan_one_stream`, `vgan_two_stream`, `vgan_image_to_video`,
`vgan_discriminator`, `vgan_image_to_video_discriminator` and `vgan_action_classifier`.
"""

from zoo.vgan import discriminators
from zoo.vgan import generators
