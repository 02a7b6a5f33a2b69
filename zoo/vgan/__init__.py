"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016): generators, discriminators, baselines.

Importing this package registers `vgan_one_stream`, `vgan_two_stream`, `vgan_image_to_video`,
`vgan_discriminator`, `vgan_image_to_video_discriminator`, `vgan_action_classifier` and
`vgan_autoencoder_gmm`.
"""

from zoo.vgan import autoencoder
from zoo.vgan import discriminators
from zoo.vgan import generators
