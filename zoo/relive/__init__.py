"""(Re)live Photos (Chen, Kang, Kim): WGAN-GP video GANs, photo-conditioned generators, predictors.

Importing this package registers `relive_wgan`, `relive_conditional_wgan`,
`relive_segmentation_conditional`, `relive_inception_conditional`, `relive_critic`,
`relive_inception_critic`, `relive_lstm`, `relive_convlstm` and `relive_cnn_next_frame`.
"""

from zoo.relive import critics
from zoo.relive import generators
from zoo.relive import predictors
