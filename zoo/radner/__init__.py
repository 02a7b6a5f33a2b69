"""Radner, *Video Synthesis from a Single Image* (TUM 2020): the style-based generator, its
spatial and temporal discriminators and the DVD-GAN-S baseline.

Importing this package registers `radner_style_generator`, `dvdgan_s`,
`radner_spatial_discriminator` and `radner_temporal_discriminator`.
"""

from zoo.radner import discriminators
from zoo.radner import generators
