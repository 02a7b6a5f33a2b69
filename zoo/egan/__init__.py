"""Egan, *Natural Video Synthesis with GANs* (MIT 2019): DCGAN, ResNet and SPADE in 2D and 3D.

Importing this package registers, each as a `_2d` (image) / `_3d` (video) pair that
`zoo.inflation` converts between: `egan_dcgan_generator`, `egan_dcgan_discriminator`,
`egan_resnet_generator`, `egan_resnet_discriminator`, `egan_spade_generator`,
`egan_spade_discriminator`.
"""

from zoo.egan import dcgan
from zoo.egan import resnet
from zoo.egan import spade
